package dbserver

// kind says whether a database is an account's or a container's.
type kind uint8

const (
	kindAccount kind = iota + 1
	kindContainer
)

func (k kind) String() string {
	if k == kindAccount {
		return "account"
	}
	return "container"
}

// dir is the directory of a device holding this kind of database.
func (k kind) dir() string {
	if k == kindAccount {
		return "accounts"
	}
	return "containers"
}

// schemaVersion is PRAGMA user_version of a database this package made.
const schemaVersion = 1

// The info table has exactly one row: the database's own state. Both
// kinds share it; container_count is used by accounts only, status
// ("DELETED") too. Timestamps are swift.Timestamp.Internal strings, whose
// byte order is their time order. metadata is JSON {name: [value, ts]}.
// reported_* are what the container updater last told the account.
const schemaInfo = `
CREATE TABLE info (
	account TEXT NOT NULL,
	container TEXT NOT NULL,
	id TEXT NOT NULL,
	created_at TEXT NOT NULL,
	put_timestamp TEXT NOT NULL,
	delete_timestamp TEXT NOT NULL,
	status_changed_at TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT '',
	metadata TEXT NOT NULL DEFAULT '{}',
	object_count INTEGER NOT NULL DEFAULT 0,
	bytes_used INTEGER NOT NULL DEFAULT 0,
	container_count INTEGER NOT NULL DEFAULT 0,
	reported_put_timestamp TEXT NOT NULL DEFAULT '',
	reported_delete_timestamp TEXT NOT NULL DEFAULT '',
	reported_object_count INTEGER NOT NULL DEFAULT -1,
	reported_bytes_used INTEGER NOT NULL DEFAULT -1
);
-- incoming_sync remembers, per peer copy (its id), the highest row seq
-- of that copy already merged here, so the peer sends only newer rows.
CREATE TABLE incoming_sync (
	remote_id TEXT PRIMARY KEY,
	sync_point INTEGER NOT NULL
);
`

// Rows are replaced, never updated in place, so that seq (AUTOINCREMENT:
// never reused) orders changes and replication sends "rows after seq N".
// Deleted rows stay until reclaimed so that deletes replicate too.
// created_at is the object data's timestamp (size, etag, deleted);
// ctype_timestamp that of its content type and meta_timestamp that of its
// metadata, which a POST moves without new data (Swift's three
// timestamps); each part of a row is newest-wins on its own.
const schemaContainer = schemaInfo + `
CREATE TABLE object (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	ctype_timestamp TEXT NOT NULL,
	meta_timestamp TEXT NOT NULL,
	size INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	etag TEXT NOT NULL,
	deleted INTEGER NOT NULL
);
CREATE INDEX object_deleted_name ON object (deleted, name);
`

// An account's container rows carry the container's stats as last
// reported; stats_timestamp orders reports (the container server's clock
// when it sent them) so that replicas agree on the newest.
const schemaAccount = schemaInfo + `
CREATE TABLE container (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL UNIQUE,
	put_timestamp TEXT NOT NULL,
	delete_timestamp TEXT NOT NULL,
	object_count INTEGER NOT NULL,
	bytes_used INTEGER NOT NULL,
	stats_timestamp TEXT NOT NULL,
	deleted INTEGER NOT NULL
);
CREATE INDEX container_deleted_name ON container (deleted, name);
`

func (k kind) schema() string {
	if k == kindAccount {
		return schemaAccount
	}
	return schemaContainer
}

// table is the name of the rows table.
func (k kind) table() string {
	if k == kindAccount {
		return "container"
	}
	return "object"
}
