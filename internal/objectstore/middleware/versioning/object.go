package versioning

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// The core decides whether the caller may write; this middleware cannot
// ask it without writing. So the archive work that must come before the
// caller's write (copying the current data away) is done first and taken
// back if the core then refuses the write with 401 or 403; work that may
// come after it (restoring a version on DELETE) waits for its answer.

// versioner handles one object PUT or DELETE in a versioned container.
type versioner struct {
	next    http.Handler
	r       *http.Request
	p       swift.Path
	archive string
}

func (v *versioner) objectPath() string {
	return "/" + v.p.Version + "/" + v.p.Account + "/" + v.p.Container + "/" + v.p.Object
}

func (v *versioner) archivePath(name string) string {
	return "/" + v.p.Version + "/" + v.p.Account + "/" + v.archive + "/" + name
}

// put archives the current data, then lets the PUT replace it.
func (v *versioner) put(w http.ResponseWriter) {
	made, st := v.archiveCurrent()
	if st != 0 {
		swift.WriteStatus(w, v.r, st)
		return
	}
	v.forward(w, made)
}

// deleteHistory archives the current data and a delete marker, then lets
// the DELETE remove the object.
func (v *versioner) deleteHistory(w http.ResponseWriter) {
	made, st := v.archiveCurrent()
	if st != 0 {
		swift.WriteStatus(w, v.r, st)
		return
	}
	marker := v.archivePath(VersionName(v.p.Object, swift.Now()))
	if st := v.send(http.MethodPut, marker, markerHeader()); st != 0 {
		v.undo(made)
		swift.WriteStatus(w, v.r, st)
		return
	}
	v.forward(w, append(made, marker))
}

// markerHeader describes a delete marker. Its listing entry must carry
// Swift's marker type, whose swift_* parameter the core refuses in a
// Content-Type (Swift lets middlewares override that check; the core has
// no such switch), so the type reaches the listing as a container update
// override, the way large objects set their listed size.
func markerHeader() http.Header {
	return http.Header{
		"Content-Type":   {"application/x-deleted"},
		"Content-Length": {"0"},
		"X-Object-Sysmeta-Container-Update-Override-Content-Type": {DeleteMarkerType},
	}
}

// forward passes the caller's request on, taking back the archive
// objects made for it if the core refuses it. The answer is read before
// it is relayed, so that the undoing is done by then.
func (v *versioner) forward(w http.ResponseWriter, made []string) {
	if len(made) == 0 {
		v.next.ServeHTTP(w, v.r)
		return
	}
	resp := swift.Do(v.next, v.r)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		v.undo(made)
	}
	relay(w, resp)
}

func (v *versioner) undo(made []string) {
	for _, path := range made {
		v.send(http.MethodDelete, path, nil)
	}
}

// archiveCurrent copies the object's current data into the archive under
// its version name. It returns the archive objects it made: none when
// there is no current data or that version is already archived.
func (v *versioner) archiveCurrent() ([]string, int) {
	src, st := v.getSource(v.objectPath())
	if st != 0 {
		return nil, st
	}
	if src.StatusCode == http.StatusNotFound {
		drain(src)
		return nil, 0
	}
	ts, ok := sourceTimestamp(src.Header)
	if !ok {
		src.Body.Close()
		return nil, http.StatusServiceUnavailable
	}
	path := v.archivePath(VersionName(v.p.Object, ts))
	if status, _ := headInfo(v.next, v.r, path); status/100 == 2 {
		// Archived by an earlier attempt: the same version, and not ours
		// to take back.
		src.Body.Close()
		return nil, 0
	}
	if st := v.putCopy(path, src); st != 0 {
		return nil, st
	}
	return []string{path}, 0
}

// deleteStack deletes the current version and puts the newest archived
// one in its place (Swift's stack mode).
func (v *versioner) deleteStack(w http.ResponseWriter) {
	list := &versionList{v: v, prefix: VersionPrefix(v.p.Object)}
	first, st := list.next()
	if st != 0 {
		swift.WriteStatus(w, v.r, st)
		return
	}
	if first == nil {
		v.next.ServeHTTP(w, v.r)
		return
	}
	// The caller's own DELETE comes first: the core authorizes it, and a
	// refused one changes nothing.
	del := v.r.Clone(v.r.Context())
	del.Body, del.ContentLength = http.NoBody, 0
	resp := swift.Do(v.next, del)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		relay(w, resp)
		return
	}
	if first.ContentType == DeleteMarkerType {
		if resp.StatusCode/100 == 2 {
			// There was data over the marker; removing it is the whole job.
			relay(w, resp)
			return
		}
		drain(resp)
		for {
			item, st := list.next()
			if st != 0 {
				swift.WriteStatus(w, v.r, st)
				return
			}
			if item == nil || item.ContentType == DeleteMarkerType {
				break
			}
			restored, st := v.restore(item.Name)
			if st != 0 {
				swift.WriteStatus(w, v.r, st)
				return
			}
			if restored {
				if st := v.send(http.MethodDelete, v.archivePath(item.Name), nil); st != 0 {
					swift.WriteStatus(w, v.r, st)
					return
				}
				break
			}
		}
		relay(w, v.deleteArchived(first.Name))
		return
	}
	kept := keep(resp)
	for item := first; item != nil; {
		restored, st := v.restore(item.Name)
		if st != 0 {
			swift.WriteStatus(w, v.r, st)
			return
		}
		if restored {
			relay(w, v.deleteArchived(item.Name))
			return
		}
		if item, st = list.next(); st != 0 {
			swift.WriteStatus(w, v.r, st)
			return
		}
	}
	// Every listed version was gone: the caller's DELETE is the answer.
	relay(w, kept)
}

// keep buffers a short answer so that it can be relayed later.
func keep(resp *http.Response) *http.Response {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// restore copies an archived version over the current object; false when
// the version is gone.
func (v *versioner) restore(name string) (bool, int) {
	src, st := v.getSource(v.archivePath(name))
	if st != 0 {
		return false, st
	}
	if src.StatusCode == http.StatusNotFound {
		drain(src)
		return false, 0
	}
	if st := v.putCopy(v.objectPath(), src); st != 0 {
		return false, st
	}
	return true, 0
}

// deleteArchived removes an archived version; its answer is the client's.
func (v *versioner) deleteArchived(name string) *http.Response {
	return swift.Do(v.next, preauthed(v.r, http.MethodDelete, v.archivePath(name), "", nil))
}

// versionItem is one entry of the archive's JSON listing.
type versionItem struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
}

// versionList pages through an object's archived versions, newest first.
type versionList struct {
	v      *versioner
	prefix string
	page   []versionItem
	marker string
	done   bool
}

const pageSize = 100

// next is the next older version, nil after the last; a non-zero status
// is Swift's answer for a listing that failed.
func (l *versionList) next() (*versionItem, int) {
	if len(l.page) == 0 && !l.done {
		if st := l.fetch(); st != 0 {
			return nil, st
		}
	}
	if len(l.page) == 0 {
		return nil, 0
	}
	item := l.page[0]
	l.page = l.page[1:]
	return &item, 0
}

func (l *versionList) fetch() int {
	q := url.Values{"format": {"json"}, "prefix": {l.prefix}, "reverse": {"on"}, "limit": {strconv.Itoa(pageSize)}}
	if l.marker != "" {
		q.Set("marker", l.marker)
	}
	v := l.v
	resp := swift.Do(v.next, preauthed(v.r, http.MethodGet, "/"+v.p.Version+"/"+v.p.Account+"/"+v.archive, q.Encode(), nil))
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		l.done = true
		return 0
	case resp.StatusCode/100 == 4:
		return http.StatusPreconditionFailed
	case resp.StatusCode/100 != 2:
		return http.StatusInternalServerError
	}
	var page []versionItem
	if resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page); err != nil {
			return http.StatusInternalServerError
		}
	}
	if len(page) < pageSize {
		l.done = true
	}
	if len(page) > 0 {
		l.marker = page[len(page)-1].Name
	}
	l.page = page
	return 0
}
