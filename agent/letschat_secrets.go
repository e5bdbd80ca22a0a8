package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// secretFileLimit bounds a secret file's size: a password or cookie secret is short, and a
// mistaken path (a log, a device) must not be read whole into memory.
const secretFileLimit = 4 << 10

// secretFromFileOrValue resolves a secret given as a file (Rancher secrets are files under
// /run/secrets; preferred) or as a value. With both, the file wins and note says so. The file's
// trailing line break is dropped; a file over 4 KiB is refused. Errors name the flag and its
// variable, never the content.
func secretFromFileOrValue(file, value, fileFlag, fileEnv, valueFlag string) (secret, note string, err error) {
	if file == "" {
		return value, "", nil
	}
	if value != "" {
		note = fmt.Sprintf("--%s and --%s are both set; using the file", fileFlag, valueFlag)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", "", usagef("--%s (env %s): cannot read %s: %v", fileFlag, fileEnv, file, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, secretFileLimit+1))
	if err != nil {
		return "", "", usagef("--%s (env %s): cannot read %s: %v", fileFlag, fileEnv, file, errors.Unwrap(err))
	}
	if len(b) > secretFileLimit {
		return "", "", usagef("--%s (env %s): %s is larger than %d KiB; it must hold only the secret", fileFlag, fileEnv, file, secretFileLimit>>10)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", "", usagef("--%s (env %s): %s is empty", fileFlag, fileEnv, file)
	}
	return s, note, nil
}
