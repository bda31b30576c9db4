package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// cloudLogin is a project-scoped token with the public endpoints of its
// catalog by service type and the id of its project (for quota sets).
type cloudLogin struct {
	token     string
	projectID string
	endpoints map[string]string
}

// loginCatalog logs in with a password like keystoneLogin, keeping the
// whole catalog and the project id: the compute command needs the compute
// and image endpoints and sets its own project's quotas.
func loginCatalog(ctx context.Context, c *http.Client, f keystoneCreds) (cloudLogin, error) {
	tokensURL := strings.TrimSuffix(strings.TrimSuffix(f.authURL, "/"), "/v3") + "/v3/auth/tokens"
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": f.username, "password": f.password, "domain": map[string]any{"name": f.userDomain}}}},
		"scope": map[string]any{"project": map[string]any{"name": f.project, "domain": map[string]any{"name": f.projectDomain}}}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokensURL, bytes.NewReader(body))
	if err != nil {
		return cloudLogin{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return cloudLogin{}, fmt.Errorf("get a token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return cloudLogin{}, fmt.Errorf("get a token: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		Token struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return cloudLogin{}, fmt.Errorf("get a token: %w", err)
	}
	l := cloudLogin{token: resp.Header.Get("X-Subject-Token"), projectID: out.Token.Project.ID, endpoints: map[string]string{}}
	for _, s := range out.Token.Catalog {
		for _, e := range s.Endpoints {
			if e.Interface == "public" {
				l.endpoints[s.Type] = strings.TrimSuffix(e.URL, "/")
			}
		}
	}
	return l, nil
}

// nova calls the Compute API at one microversion.
type nova struct {
	c     *http.Client
	url   string // e.g. http://127.0.0.1:8774/v2.1
	token string
	mv    string // "2.37"
}

// apiError is an answer with an unexpected status.
type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.method, e.path, e.status, http.StatusText(e.status), e.body)
}

// do sends in (JSON, unless nil) and decodes the answer into out (unless
// nil) when its status is one of want.
func (n *nova) do(ctx context.Context, method, path string, in, out any, want ...int) error {
	return callJSON(ctx, n.c, n.token, method, n.url, path, in, out, func(h http.Header) {
		h.Set("OpenStack-API-Version", "compute "+n.mv)
		h.Set("X-OpenStack-Nova-API-Version", n.mv)
	}, want...)
}

func callJSON(ctx context.Context, c *http.Client, token, method, base, path string, in, out any, hdr func(http.Header), want ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if hdr != nil {
		hdr(req.Header)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if !slices.Contains(want, resp.StatusCode) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 400))
		return &apiError{method: method, path: path, status: resp.StatusCode, body: string(bytes.TrimSpace(b))}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == status
}

// server is what the load tool reads of a server.
type server struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Fault  *struct {
		Message string `json:"message"`
	} `json:"fault"`
}

// serverArgs are the fixed parts of every server the tool creates.
type serverArgs struct {
	image, flavor string
	networks      string // "none", "auto", or "" to send no networks
	configDrive   bool
}

func (n *nova) createServer(ctx context.Context, name string, a serverArgs) (string, error) {
	s := map[string]any{"name": name, "imageRef": a.image, "flavorRef": a.flavor}
	if a.networks != "" {
		s["networks"] = a.networks
	}
	if a.configDrive {
		s["config_drive"] = true
	}
	var out struct {
		Server struct {
			ID string `json:"id"`
		} `json:"server"`
	}
	if err := n.do(ctx, "POST", "/servers", map[string]any{"server": s}, &out, http.StatusAccepted); err != nil {
		return "", err
	}
	if out.Server.ID == "" {
		return "", errors.New("POST /servers: 202 without a server id")
	}
	return out.Server.ID, nil
}

func (n *nova) getServer(ctx context.Context, id string) (server, error) {
	var out struct {
		Server server `json:"server"`
	}
	err := n.do(ctx, "GET", "/servers/"+id, nil, &out, http.StatusOK)
	return out.Server, err
}

func (n *nova) deleteServer(ctx context.Context, id string) error {
	return n.do(ctx, "DELETE", "/servers/"+id, nil, nil, http.StatusNoContent, http.StatusNotFound)
}

// consoleOutput is the last lines of a server's console log.
func (n *nova) consoleOutput(ctx context.Context, id string, lines int) (string, error) {
	var out struct {
		Output string `json:"output"`
	}
	err := n.do(ctx, "POST", "/servers/"+id+"/action", map[string]any{"os-getConsoleOutput": map[string]any{"length": lines}}, &out, http.StatusOK)
	return out.Output, err
}

// listServers pages through /servers/detail with the query q (e.g.
// status=BUILD), or through /servers (ids and names only) when !detail.
func (n *nova) listServers(ctx context.Context, q url.Values, detail bool) ([]server, error) {
	path := "/servers?"
	if detail {
		path = "/servers/detail?"
	}
	var all []server
	q.Set("limit", "1000")
	for {
		var out struct {
			Servers []server `json:"servers"`
		}
		if err := n.do(ctx, "GET", path+q.Encode(), nil, &out, http.StatusOK); err != nil {
			return nil, err
		}
		all = append(all, out.Servers...)
		if len(out.Servers) < 1000 {
			return all, nil
		}
		q.Set("marker", out.Servers[len(out.Servers)-1].ID)
	}
}

// unlimitedQuota lifts the instance, core and RAM quotas of a project (as
// admin), so that a load of thousands of servers is not refused.
func (n *nova) unlimitedQuota(ctx context.Context, project string) error {
	body := map[string]any{"quota_set": map[string]any{"instances": -1, "cores": -1, "ram": -1}}
	return n.do(ctx, "PUT", "/os-quota-sets/"+project, body, nil, http.StatusOK)
}

// pickFlavor finds the flavor named or numbered ref, or the smallest one
// (by RAM, then vCPUs, then disk) when ref is "".
func (n *nova) pickFlavor(ctx context.Context, ref string) (id, desc string, err error) {
	type flavor struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		RAM   int    `json:"ram"`
		VCPUs int    `json:"vcpus"`
		Disk  int    `json:"disk"`
	}
	var out struct {
		Flavors []flavor `json:"flavors"`
	}
	if err := n.do(ctx, "GET", "/flavors/detail", nil, &out, http.StatusOK); err != nil {
		return "", "", err
	}
	fl := out.Flavors
	slices.SortFunc(fl, func(a, b flavor) int {
		return cmp.Or(cmp.Compare(a.RAM, b.RAM), cmp.Compare(a.VCPUs, b.VCPUs), cmp.Compare(a.Disk, b.Disk), cmp.Compare(a.Name, b.Name))
	})
	for _, f := range fl {
		if ref == "" || f.ID == ref || f.Name == ref {
			return f.ID, fmt.Sprintf("%s (%d MB, %d vCPU, %d GB)", f.Name, f.RAM, f.VCPUs, f.Disk), nil
		}
	}
	if ref == "" {
		return "", "", errors.New("the cloud has no flavor")
	}
	return "", "", fmt.Errorf("no flavor %q", ref)
}

// pickImage finds the active image named or with the id ref in the Image
// API, or the smallest active one when ref is "".
func pickImage(ctx context.Context, c *http.Client, token, imageURL, ref string) (id, desc string, err error) {
	type image struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	var out struct {
		Images []image `json:"images"`
	}
	base := strings.TrimSuffix(imageURL, "/v2")
	if err := callJSON(ctx, c, token, "GET", base, "/v2/images?status=active&limit=1000", nil, &out, nil, http.StatusOK); err != nil {
		return "", "", err
	}
	im := out.Images
	slices.SortFunc(im, func(a, b image) int { return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.Name, b.Name)) })
	for _, i := range im {
		if ref == "" || i.ID == ref || i.Name == ref {
			return i.ID, fmt.Sprintf("%s (%d bytes)", i.Name, i.Size), nil
		}
	}
	if ref == "" {
		return "", "", errors.New("the image service has no active image")
	}
	return "", "", fmt.Errorf("no active image %q", ref)
}

// waitGone polls each server until it answers 404, with up to n at once.
func (n *nova) waitGone(ctx context.Context, ids []string, workers int, poll, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return forEach(ctx, ids, workers, func(ctx context.Context, id string) error {
		for {
			_, err := n.getServer(ctx, id)
			switch {
			case isStatus(err, http.StatusNotFound):
				return nil
			case ctx.Err() != nil:
				return fmt.Errorf("server %s still there after %s", id, timeout)
			}
			sleep(ctx, poll)
		}
	})
}

// forEach calls fn on each item with up to n calls at once and returns
// the first error (the others still run).
func forEach[T any](ctx context.Context, items []T, n int, fn func(context.Context, T) error) error {
	ch := make(chan T)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for _, it := range items {
			select {
			case ch <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	var running = max(1, min(n, len(items)))
	for range running {
		go func() {
			defer func() { done <- struct{}{} }()
			for it := range ch {
				if err := fn(ctx, it); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for range running {
		<-done
	}
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
