// Package swift holds what every part of the object store agrees on: the
// Swift API's limits, timestamps, path rules, error bodies, the request
// context the proxy's middlewares share, and the backend protocol between
// the proxy and the storage servers.
//
// # Backend protocol
//
// A storage node serves its devices on one port. The first path segment
// names the kind of data, then device, partition and the names:
//
//	/object/{dev}/{part}/{account}/{container}/{object...}   PUT GET HEAD DELETE POST
//	/container/{dev}/{part}/{account}/{container}            PUT HEAD GET POST DELETE
//	/container/{dev}/{part}/{account}/{container}/{object...} PUT DELETE: object rows
//	/account/{dev}/{part}/{account}                          PUT HEAD GET POST DELETE
//	/account/{dev}/{part}/{account}/{container}              PUT: container rows
//	REPLICATE /object/{dev}/{part}[/{suffix}-{suffix}...]    replication (storage nodes only)
//
// Names are path-escaped segments (url.PathEscape of each); object names
// keep their slashes. Every write carries X-Timestamp (Timestamp.Internal);
// the newest timestamp wins everywhere, and a write older than or equal to
// what is stored answers 409 Conflict with X-Backend-Timestamp.
//
// Object PUT from the proxy carries Content-Length or chunked body,
// Content-Type, optional ETag (client's MD5 to check: 422 on mismatch),
// X-Object-Meta-*, X-Object-Sysmeta-*, Content-Disposition,
// Content-Encoding, X-Delete-At, X-Object-Manifest, X-Static-Large-Object,
// and where to update the listing: X-Container-Host (ip:port),
// X-Container-Device, X-Container-Partition. The object server writes the
// file, fsyncs it, then sends PUT or DELETE
// /container/{dev}/{part}/{a}/{c}/{o} with X-Timestamp, X-Size,
// X-Content-Type, X-Etag (and X-Delete-At-less metadata only); when that
// fails it queues the update on its device and its updater delivers it
// later. Answers: 201 with ETag; GET/HEAD add Content-Length, Content-Type,
// ETag, Last-Modified, X-Timestamp, X-Backend-Timestamp and metadata; a 404
// of a deleted object carries X-Backend-Timestamp of the tombstone.
//
// Container PUT from the proxy carries X-Timestamp, metadata
// (X-Container-Meta-*, X-Container-Read/Write, X-Container-Sysmeta-*,
// X-Versions-Location, X-History-Location, ...), and X-Account-Host,
// X-Account-Device, X-Account-Partition; the container server then sends
// PUT /account/{dev}/{part}/{a}/{c} with X-Put-Timestamp,
// X-Delete-Timestamp, X-Object-Count, X-Bytes-Used (its updater resends
// stats that change later). Container and account GET answer listings as
// JSON always (the proxy renders text/xml), with the query parameters of
// the public API (prefix, delimiter, marker, end_marker, limit, reverse,
// path). HEAD/GET headers: X-Container-Object-Count,
// X-Container-Bytes-Used, X-Timestamp, X-PUT-Timestamp, X-Backend-Timestamp,
// metadata; X-Account-Container-Count, X-Account-Object-Count,
// X-Account-Bytes-Used for accounts. A deleted container or account
// answers 404; DELETE of a non-empty container answers 409 Conflict.
//
// Storage servers never check tokens: they listen where only proxies and
// other storage nodes reach them, as Swift's do.
package swift
