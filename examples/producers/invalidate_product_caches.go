// Go service -> Larder: invalidateProductCaches as an event posted to POST /_larder/events,
// with the standard library only. The token needs the scope events:publish@<tenant>
// (LARDER_TOKENS=catalog=<token>=events:publish@acme): it can publish, not purge or clear.
//
//	LARDER_URL=http://127.0.0.1:8080 LARDER_TOKEN=<token> \
//	  go run invalidate_product_caches.go -tenant acme -product 42 -category shoes
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

type Event struct {
	ID     string         `json:"id"`
	Type   string         `json:"type"`
	Tenant string         `json:"tenant"`
	Data   map[string]any `json:"data"`
}

type Result struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Outcome string `json:"outcome"` // "applied" or "duplicate"
}

// LarderError is a 4xx answer: the event was refused and nothing was applied. Fix the event;
// sending it again unchanged gets the same answer.
type LarderError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *LarderError) Error() string {
	return fmt.Sprintf("larder refused the event: %d %s: %s", e.Status, e.Code, e.Message)
}

type Larder struct {
	URL    string // the gateway, e.g. https://shop.example
	Token  string
	Client *http.Client
}

// InvalidateProductCaches tells Larder that a product changed: the product page, its category
// listings and search are invalidated in the tenant (the catalog rule product.updated).
func (l *Larder) InvalidateProductCaches(ctx context.Context, id, tenant, productID string, categoryIDs []string) (Result, error) {
	results, err := l.Publish(ctx, Event{ID: id, Type: "product.updated", Tenant: tenant,
		Data: map[string]any{"productId": productID, "categoryIds": categoryIDs}})
	if err != nil {
		return Result{}, err
	}
	if len(results) != 1 {
		return Result{}, fmt.Errorf("larder answered %d results for 1 event", len(results))
	}
	return results[0], nil
}

// Publish posts events (all or nothing). A 4xx other than 429 is returned as *LarderError.
// 429, 5xx and network errors are retried with the same ids, which Larder applies once.
func (l *Larder) Publish(ctx context.Context, events ...Event) ([]Result, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 1; attempt <= 4; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 100 * time.Millisecond):
			}
		}
		results, retry, err := l.post(ctx, body)
		if !retry {
			return results, err
		}
		last = err
	}
	return nil, fmt.Errorf("larder did not apply the events (send them again later, same ids): %w", last)
}

func (l *Larder) post(ctx context.Context, body []byte) (results []Result, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL+"/_larder/events", bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.Token)
	res, err := l.Client.Do(req)
	if err != nil {
		return nil, true, err // maybe applied, maybe not: the same ids make a resend safe
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case err != nil:
		return nil, true, err
	case res.StatusCode == http.StatusOK:
		var ok struct{ Results []Result }
		return ok.Results, false, json.Unmarshal(answer, &ok)
	case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests:
		var refused struct{ Error LarderError }
		_ = json.Unmarshal(answer, &refused)
		refused.Error.Status = res.StatusCode
		return nil, false, &refused.Error
	default:
		return nil, true, fmt.Errorf("larder answered %d: %.200s", res.StatusCode, answer)
	}
}

func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	tenant := flag.String("tenant", "", "the tenant (the token may publish for it)")
	product := flag.String("product", "", "the product id")
	id := flag.String("id", "", "event id (default: a random one; reuse it when retrying the same change)")
	var categories list
	flag.Var(&categories, "category", "a category id of the product (repeatable)")
	flag.Parse()
	if *id == "" {
		*id = newEventID()
	}
	larder := &Larder{URL: os.Getenv("LARDER_URL"), Token: os.Getenv("LARDER_TOKEN"), Client: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	result, err := larder.InvalidateProductCaches(ctx, *id, *tenant, *product, append([]string{}, categories...))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}
