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

// get sends one GET for path (relative to the base URL, with its query) and hands the body of a
// 200 answer to decode; the request counts as good only if decode accepts it. Every request asks
// for JSON: the server's Content-Type is always text/plain, so the Accept header decides the
// format.
func (w *Watcher) get(ctx context.Context, kind RequestKind, path string, timeout time.Duration, decode func([]byte) error) error {
	start := time.Now()
	body, err := w.doGet(ctx, path, timeout)
	if err == nil {
		err = decode(body)
	}
	if ctx.Err() == nil {
		w.stats.request(err, time.Now())
		w.metrics.RequestDone(kind, time.Since(start), err)
	}
	return err
}

func (w *Watcher) doGet(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range w.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body is not reported.
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		u, _ := url.Parse(w.base + path)
		return nil, &StatusError{Code: resp.StatusCode, Path: u.Path}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, w.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(body)) > w.maxBody {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, w.maxBody)
	}
	return body, nil
}

// fetch reads the whole tree in one request and decodes it.
func (w *Watcher) fetch(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := w.get(ctx, RequestTree, "/", w.requestTimeout, func(body []byte) (err error) {
		s, err = DecodeSnapshot(body)
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
	err := w.get(ctx, RequestVersion, "/version", w.requestTimeout, func(body []byte) (err error) {
		v, err = decodeVersion(body)
		return err
	})
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
	err := w.get(ctx, RequestLongPoll, path, w.longPollTimeout, func(body []byte) (err error) {
		v, err = decodeVersion(body)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("long-poll version: %w", err)
	}
	return v, nil
}
