package metadata

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxVersionBytes bounds a /version answer: a JSON string of a UUID or of Cattle's
// "<id>-<hex>" fits in a few dozen bytes, so anything near this is not a version.
const maxVersionBytes = 4 << 10

// get sends one GET for path (relative to the base URL, with its query) and hands the body of a
// 200 answer, cut off with ErrTooLarge after limit bytes, to decode; the request counts as good
// only if decode accepts it. Every request asks for JSON: the server's Content-Type is always
// text/plain, so the Accept header decides the format.
func (w *Watcher) get(ctx context.Context, kind RequestKind, path string, timeout time.Duration, limit int64, decode func(io.Reader) error) error {
	start := time.Now()
	err := w.doGet(ctx, path, timeout, limit, decode)
	if ctx.Err() == nil {
		w.stats.request(err, time.Now())
		w.metrics.RequestDone(kind, time.Since(start), err)
	}
	return err
}

func (w *Watcher) doGet(ctx context.Context, path string, timeout time.Duration, limit int64, decode func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, vs := range w.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body is not reported.
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		u, _ := url.Parse(w.base + path)
		return &StatusError{Code: resp.StatusCode, Path: u.Path}
	}
	body := &limitedReader{r: resp.Body, left: limit, limit: limit}
	if err := decode(body); err != nil {
		if body.over {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		return err
	}
	return nil
}

// limitedReader reads at most limit bytes and then fails with ErrTooLarge, where
// io.LimitReader would end the answer silently and make a cut tree look merely malformed.
type limitedReader struct {
	r           io.Reader
	left, limit int64
	over        bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.over = true
			return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// fetch reads the whole tree in one request and decodes it.
func (w *Watcher) fetch(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := w.get(ctx, RequestTree, "/", w.requestTimeout, w.maxBody, func(body io.Reader) (err error) {
		s, err = Decode(body, w.scope)
		return err
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("fetch snapshot: %w", err)
	}
	return s, nil
}

// readVersion reads the version at once (poll mode).
func (w *Watcher) readVersion(ctx context.Context) (string, error) {
	var v string
	err := w.get(ctx, RequestVersion, "/version", w.requestTimeout, maxVersionBytes, readVersionAnswer(&v))
	if err != nil {
		return "", fmt.Errorf("read version: %w", err)
	}
	return v, nil
}

// waitVersion long-polls until the version differs from known or the server's maxWait passes;
// in the latter case it returns known unchanged, which is not an error.
func (w *Watcher) waitVersion(ctx context.Context, known string) (string, error) {
	path := "/version?wait=true&value=" + url.QueryEscape(known) + "&maxWait=" + strconv.Itoa(w.maxWaitSeconds)
	var v string
	err := w.get(ctx, RequestLongPoll, path, w.longPollTimeout, maxVersionBytes, readVersionAnswer(&v))
	if err != nil {
		return "", fmt.Errorf("long-poll version: %w", err)
	}
	return v, nil
}

// readVersionAnswer decodes a /version answer into v.
func readVersionAnswer(v *string) func(io.Reader) error {
	return func(body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		*v, err = decodeVersion(b)
		return err
	}
}
