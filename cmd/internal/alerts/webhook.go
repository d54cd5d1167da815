package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// Webhook retry backoff: 1 s after the first failed try, doubling, at most 30 s.
const (
	webhookBackoffBase = time.Second
	webhookBackoffMax  = 30 * time.Second
)

// webhookClient has no overall timeout (each try has its own) and does not
// follow redirects: a POST that is redirected is not delivered.
var webhookClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// errNoRetry marks a webhook answer that another try would not change.
type errNoRetry struct{ error }

// postWebhook POSTs body to the webhook, with 1 + retries tries, each
// bounded by its timeout. A 2xx answer is delivered; 4xx other than 408
// and 429 is not retried.
func postWebhook(ctx context.Context, w config.Webhook, body []byte, userAgent string, log *slog.Logger) error {
	var err error
	wait := webhookBackoffBase
	for try := 0; try <= w.Retries; try++ {
		if try > 0 {
			log.Warn("alert webhook try failed; retrying", "try", try, "in", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("POST %s: %w (after %d tries, last: %w)", w.URL, ctx.Err(), try, err)
			}
			wait = min(2*wait, webhookBackoffMax)
		}
		err = postOnce(ctx, w, body, userAgent)
		if err == nil {
			return nil
		}
		if _, final := err.(errNoRetry); final {
			return err
		}
	}
	return fmt.Errorf("%w (%d tries)", err, w.Retries+1)
}

func postOnce(ctx context.Context, w config.Webhook, body []byte, userAgent string) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errNoRetry{fmt.Errorf("POST %s: %w", w.URL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := webhookClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return errNoRetry{fmt.Errorf("POST %s: %s", w.URL, resp.Status)}
	default:
		return fmt.Errorf("POST %s: %s", w.URL, resp.Status)
	}
}
