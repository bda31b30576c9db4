-- Copies of an image's data in further stores (copy-image); the first
-- location stays in images.store/location.
CREATE TABLE image_locations (
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	store    TEXT NOT NULL,
	location TEXT NOT NULL,
	PRIMARY KEY (image_id, store)
)
