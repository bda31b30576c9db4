package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"
)

// identityScenarios are the names --scenarios accepts, in the order they run.
var identityScenarios = []string{"validate", "issue-token", "issue-password"}

type identityFlags struct {
	keystoneCreds
	concurrency               string
	duration, warmup, timeout time.Duration
	scenarios                 string
	validateNoCatalog         bool
}

func identityCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f identityFlags
	fs := flag.NewFlagSet("nimbus-load identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.addFlags(fs, "http://127.0.0.1:5000/v3", "project name the password tokens are scoped to")
	fs.StringVar(&f.concurrency, "concurrency", "1,8,32", "comma-separated numbers of concurrent clients")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per scenario and concurrency level")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "unmeasured time before each measurement")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.StringVar(&f.scenarios, "scenarios", strings.Join(identityScenarios, ","), "which scenarios, comma-separated")
	fs.BoolVar(&f.validateNoCatalog, "validate-nocatalog", false, "validate with ?nocatalog (keystonemiddleware asks for the catalog by default)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: nimbus-load identity [flags]

Scenarios:
  validate        GET /v3/auth/tokens, X-Auth-Token: an admin token,
                  X-Subject-Token: the same other token each time (catalog included)
  issue-token     POST /v3/auth/tokens?nocatalog, method "token", unscoped
  issue-password  POST /v3/auth/tokens, method "password", project-scoped (catalog included)

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nimbus-load identity: unexpected arguments %q\n", fs.Args())
		return 2
	}
	levels, err := parseLevels(f.concurrency)
	if err != nil {
		fmt.Fprintf(stderr, "nimbus-load identity: %v\n", err)
		return 2
	}
	if f.password == "" {
		fmt.Fprintln(stderr, "nimbus-load identity: --password (or OS_PASSWORD) is required")
		return 2
	}
	names, err := pickScenarios(f.scenarios)
	if err != nil {
		fmt.Fprintf(stderr, "nimbus-load identity: %v\n", err)
		return 2
	}

	id := &identity{
		tokensURL: strings.TrimSuffix(strings.TrimSuffix(f.authURL, "/"), "/v3") + "/v3/auth/tokens",
		password:  passwordBody(f),
	}
	setup := newClient(1, f.timeout)
	if id.authToken, err = id.issue(ctx, setup, id.tokensURL, id.password); err != nil {
		fmt.Fprintf(stderr, "nimbus-load identity: get an admin token: %v\n", err)
		return 1
	}
	if id.subjectToken, err = id.issue(ctx, setup, id.tokensURL, id.password); err != nil {
		fmt.Fprintf(stderr, "nimbus-load identity: get a subject token: %v\n", err)
		return 1
	}
	setup.CloseIdleConnections()
	id.tokenBody, _ = json.Marshal(map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"token"}, "token": map[string]string{"id": id.subjectToken}}}})
	id.validateURL = id.tokensURL
	if f.validateNoCatalog {
		id.validateURL += "?nocatalog"
	}

	fmt.Fprintf(stdout, "identity load: %s, user %s, project %s; %s per run after %s warm-up; client GOMAXPROCS %d\n",
		id.tokensURL, f.username, f.project, f.duration, f.warmup, runtime.GOMAXPROCS(0))
	tbl := newResultTable()
	var failed []result
	for _, name := range names {
		sc := id.scenario(name)
		for _, n := range levels {
			if ctx.Err() != nil {
				break
			}
			r := measure(ctx, sc, n, f.warmup, f.duration, f.timeout)
			tbl.add(r)
			if r.errors > 0 {
				failed = append(failed, r)
			}
		}
	}
	tbl.write(stdout)
	for _, r := range failed {
		fmt.Fprintf(stdout, "%s at concurrency %d: %d errors, the first: %v\n", r.scenario, r.concurrency, r.errors, r.firstErr)
	}
	if ctx.Err() != nil {
		return 130
	}
	if len(failed) > 0 {
		return 1
	}
	return 0
}

func pickScenarios(s string) ([]string, error) {
	var out []string
	for n := range strings.SplitSeq(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, known := range identityScenarios {
			found = found || n == known
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(identityScenarios, ", "))
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario chosen")
	}
	return out, nil
}

func passwordBody(f identityFlags) []byte {
	b, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": f.username, "password": f.password, "domain": map[string]string{"name": f.userDomain}}},
		},
		"scope": map[string]any{"project": map[string]any{
			"name": f.project, "domain": map[string]string{"name": f.projectDomain}}},
	}})
	return b
}

// identity holds the tokens and request bodies the scenarios reuse.
type identity struct {
	tokensURL, validateURL  string
	password, tokenBody     []byte
	authToken, subjectToken string
}

func (id *identity) scenario(name string) scenario {
	switch name {
	case "validate":
		return scenario{name: "token validate", do: func(ctx context.Context, c *http.Client) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, id.validateURL, nil)
			if err != nil {
				return err
			}
			req.Header.Set("X-Auth-Token", id.authToken)
			req.Header.Set("X-Subject-Token", id.subjectToken)
			req.Header.Set("Accept", "application/json")
			_, err = send(c, req, http.StatusOK)
			return err
		}}
	case "issue-token":
		return scenario{name: "token issue (token)", do: func(ctx context.Context, c *http.Client) error {
			_, err := id.issue(ctx, c, id.tokensURL+"?nocatalog", id.tokenBody)
			return err
		}}
	default: // "issue-password"
		return scenario{name: "token issue (password)", do: func(ctx context.Context, c *http.Client) error {
			_, err := id.issue(ctx, c, id.tokensURL, id.password)
			return err
		}}
	}
}

// issue posts an auth request and returns the new token.
func (id *identity) issue(ctx context.Context, c *http.Client, url string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := send(c, req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", fmt.Errorf("POST %s: %s without an X-Subject-Token header", url, resp.Status)
	}
	return tok, nil
}

// send does req and reads the whole body, so the connection is reused; any
// status but want is an error that shows the start of the body.
func send(c *http.Client, req *http.Request, want int) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	return resp, nil
}
