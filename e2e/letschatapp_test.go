package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real Let's Chat, as a client of the managed set: its source with a lockfile lives beside
// the repository (../shared/letschat-0.4.8), is installed with npm into a scratch copy and run
// by the letschat agent. Nothing of it is part of this project.
const (
	// fixtureEnv names the Let's Chat source; its default is ../shared/letschat-0.4.8 relative to
	// the module root, then /work/shared/letschat-0.4.8.
	fixtureEnv = "LETSCHAT_FIXTURE_DIR"
	// requireEnv, when set (CI sets it), turns a missing node, npm or fixture into a failure.
	requireEnv = "E2E_REQUIRE_REAL_APP"
	// cacheEnv overrides where installed dependency trees are kept between runs (default: the
	// user cache directory).
	cacheEnv = "LETSCHAT_NPM_CACHE_DIR"
)

// realAppOrSkip returns the fixture directory and the node binary, or skips (fails under
// requireEnv) saying what is missing.
func realAppOrSkip(t *testing.T) (fixture, node string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv(requireEnv) != "" {
			t.Fatalf("real Let's Chat test cannot run (%s is set): %s", requireEnv, msg)
		}
		t.Skipf("real Let's Chat test skipped: %s (set %s to make this a failure)", msg, requireEnv)
	}
	if testing.Short() {
		t.Skip("real Let's Chat test skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing("npm is not on PATH")
	}
	var tried []string
	candidates := []string{os.Getenv(fixtureEnv)}
	if candidates[0] == "" {
		candidates = []string{filepath.Join("..", "..", "shared", "letschat-0.4.8"), "/work/shared/letschat-0.4.8"}
	}
	for _, c := range candidates {
		abs, err := filepath.Abs(c)
		if err != nil {
			continue
		}
		tried = append(tried, abs)
		if _, err := os.Stat(filepath.Join(abs, "package-lock.json")); err == nil {
			return abs, node
		}
	}
	missing("no Let's Chat fixture with a package-lock.json at %s (set %s)", strings.Join(tried, " or "), fixtureEnv)
	return "", ""
}

// copyTree copies the fixture into dst (without node_modules), writable so that the test's
// temporary directory can be removed.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return nil // symlinks and special files are not part of the app
	})
}

// installKey identifies an installed tree: the lockfile, the manifest and node's major version.
func installKey(app, node string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"package-lock.json", "package.json"} {
		b, err := os.ReadFile(filepath.Join(app, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %w", err)
	}
	major, _, _ := strings.Cut(strings.TrimSpace(string(out)), ".")
	h.Write([]byte(major))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// installApp makes app runnable: its node_modules comes from the cache when a tree for the same
// lockfile was installed before, otherwise from `npm ci`, whose result is then cached. It
// returns how long it took and whether the cache served it. Any trouble with the cache falls
// back to a plain install in app.
func installApp(t *testing.T, app, node string) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	key, keyErr := installKey(app, node)
	cacheRoot := os.Getenv(cacheEnv)
	if cacheRoot == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cacheRoot = filepath.Join(d, "replset-agent", "letschat-node-modules")
		}
	}
	cached := ""
	if keyErr == nil && cacheRoot != "" {
		cached = filepath.Join(cacheRoot, key)
		if _, err := os.Stat(filepath.Join(cached, ".complete")); err == nil {
			// The cached tree is used in place: node resolves every dependency inside it.
			if err := os.Symlink(filepath.Join(cached, "node_modules"), filepath.Join(app, "node_modules")); err == nil {
				return time.Since(start), true
			}
		}
	} else if keyErr != nil {
		t.Logf("Let's Chat install: no cache (%v)", keyErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = app
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", app, err, out.String())
	}
	took := time.Since(start)
	if cached != "" {
		if err := storeInCache(app, cached); err != nil {
			t.Logf("Let's Chat install: not cached (%v); the next run installs again", err)
		}
	}
	return took, false
}

// storeInCache moves app's node_modules into the cache under a temporary name, marks it
// complete and renames it into place (atomic: a reader sees a whole tree or none), then links it
// back into app.
func storeInCache(app, cached string) error {
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cached), filepath.Base(cached)+".tmp-")
	if err != nil {
		return err
	}
	modules := filepath.Join(app, "node_modules")
	if err := os.Rename(modules, filepath.Join(tmp, "node_modules")); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	restore := func() { _ = os.Rename(filepath.Join(tmp, "node_modules"), modules); os.RemoveAll(tmp) }
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		restore()
		return err
	}
	if err := os.Rename(tmp, cached); err != nil {
		// Another run cached the same tree meanwhile: use ours and drop it afterwards.
		restore()
		if _, statErr := os.Stat(filepath.Join(cached, ".complete")); statErr == nil {
			return nil
		}
		return err
	}
	return os.Symlink(filepath.Join(cached, "node_modules"), modules)
}

// appClient talks to Let's Chat's HTTP API as one user: a cookie jar for the session, and the
// API token once generated.
type appClient struct {
	base  string
	http  *http.Client
	token string
}

func newAppClient(base string) *appClient {
	jar, _ := cookiejar.New(nil)
	return &appClient{base: base, http: &http.Client{Jar: jar, Timeout: 90 * time.Second}}
}

// call sends a request with a JSON body (nil: none) and decodes a JSON answer into out (nil:
// discarded). bearer uses the API token instead of the session cookie.
func (c *appClient) call(method, path string, body any, bearer bool, out any) (int, error) {
	return c.callWithin(c.http.Timeout, method, path, body, bearer, out)
}

// callWithin is call with its own time limit.
func (c *appClient) callWithin(limit time.Duration, method, path string, body any, bearer bool, out any) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d, not JSON: %.200s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, nil
}

// statusMessage is Let's Chat's {status, message} answer.
type statusMessage struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Token   string `json:"token"`
}

type appMessage struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// up reports whether Let's Chat serves its login page.
func (c *appClient) up() bool {
	resp, err := c.http.Get(c.base + "/login")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// post posts one message to room with the session cookie; it returns the stored message.
func (c *appClient) post(room, text string) (appMessage, error) {
	return c.postWithin(c.http.Timeout, room, text)
}

// postWithin is post with its own time limit: a user gives up on a request that hangs and tries
// again.
func (c *appClient) postWithin(limit time.Duration, room, text string) (appMessage, error) {
	var m appMessage
	code, err := c.callWithin(limit, http.MethodPost, "/rooms/"+room+"/messages", map[string]string{"text": text}, false, &m)
	if err == nil && (code != http.StatusCreated || m.ID == "") {
		err = fmt.Errorf("post %q: HTTP %d", text, code)
	}
	return m, err
}

// messages reads a room's messages (oldest first) with the API token.
func (c *appClient) messages(room string) ([]appMessage, error) {
	var ms []appMessage
	code, err := c.call(http.MethodGet, "/rooms/"+room+"/messages?reverse=false&take=5000", nil, true, &ms)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("read messages: HTTP %d", code)
	}
	return ms, err
}

// freePort returns a port free on ip.
func freePort(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

var errNotYet = errors.New("not yet")
