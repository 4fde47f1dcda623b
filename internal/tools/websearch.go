package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/vargate/vargate/internal/netguard"
)

// DefaultWebSearchURL is the Brave Search API's web search endpoint.
const DefaultWebSearchURL = "https://api.search.brave.com/res/v1/web/search"

// WebSearchInput is the arguments of vargate_web_search.
type WebSearchInput struct {
	Query      string `json:"query" jsonschema:"the search terms"`
	MaxResults int    `json:"max_results,omitempty" jsonschema:"how many results to return, 1 to 20 (default 5)"`
}

// WebSearchResult is the structured result of vargate_web_search.
type WebSearchResult struct {
	Query   string         `json:"query"`
	Results []SearchResult `json:"results"`
}

// SearchResult is one hit.
type SearchResult struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	Description string `json:"description"`
}

// WebSearchConnector calls a web search API in the shape of the Brave
// Search API (GET ?q=&count=, key in X-Subscription-Token) with the
// tenant's key, registered with tool_id vargate_web_search.
type WebSearchConnector struct {
	// URL is the search endpoint (DefaultWebSearchURL if empty); the
	// operator configures it (VARGATE_WEB_SEARCH_URL), so it is not guarded.
	URL         string
	Client      *http.Client
	Credentials Credentials
	// Timeout bounds one search (10 s if zero).
	Timeout time.Duration
}

// NewWebSearchTool returns vargate_web_search over c.
func NewWebSearchTool(c *WebSearchConnector) *Tool {
	t, err := NewTool(Tool{
		Name:        WebSearch,
		Title:       "Web search",
		Description: "Search the web. Returns titles, URLs and descriptions of the top results.",
		ReadOnly:    true,
		Schema: schemaFor[WebSearchInput](func(s *jsonschema.Schema) {
			s.Properties["query"].MinLength = ptr(1)
			s.Properties["query"].MaxLength = ptr(400)
			s.Properties["max_results"].Minimum = ptr(1.0)
			s.Properties["max_results"].Maximum = ptr(20.0)
		}),
		Summary: func(args json.RawMessage) string {
			var in WebSearchInput
			_ = json.Unmarshal(args, &in)
			return fmt.Sprintf("search the web for %q", in.Query)
		},
		Connector: c,
	})
	if err != nil {
		panic(err)
	}
	return t
}

// braveResponse is the part of a Brave Search API answer we read.
type braveResponse struct {
	Web struct {
		Results []SearchResult `json:"results"`
	} `json:"web"`
}

// Call implements Connector: it runs the call and scrubs the result and
// error of every credential value released for it.
func (w *WebSearchConnector) Call(ctx context.Context, c *Call) (Result, error) {
	return c.scrub(w.call(ctx, c))
}

func (w *WebSearchConnector) call(ctx context.Context, c *Call) (Result, error) {
	in, err := inputOf[WebSearchInput](c)
	if err != nil {
		return Result{}, err
	}
	if in.MaxResults == 0 {
		in.MaxResults = 5
	}
	key, err := useCredential(ctx, w.Credentials, c, WebSearch, "", "")
	if err != nil {
		return Result{}, err
	}
	defer key.Wipe()
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := w.URL
	if endpoint == "" {
		endpoint = DefaultWebSearchURL
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return Result{}, fmt.Errorf("web search URL: %w", err)
	}
	q := u.Query()
	q.Set("q", in.Query)
	q.Set("count", strconv.Itoa(in.MaxResults))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, fmt.Errorf("web search request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Subscription-Token", string(key.Reveal()))
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, Failed(netguard.RedactError(err), "the search API could not be reached")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Result{}, Failed(err, "reading the search API's answer failed")
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, Failed(nil, "the search API answered %s", resp.Status)
	}
	var br braveResponse
	if err := json.Unmarshal(body, &br); err != nil {
		return Result{}, Failed(err, "the search API's answer is not the expected JSON")
	}
	out := WebSearchResult{Query: in.Query, Results: br.Web.Results}
	if len(out.Results) > in.MaxResults {
		out.Results = out.Results[:in.MaxResults]
	}
	if out.Results == nil {
		out.Results = []SearchResult{}
	}
	return JSONResult(out)
}
