//! Response bodies: each kept as it is and gzipped (compressed once however many clients ask),
//! with an entity tag of its content, so a chart whose drawing did not change is a 304 across
//! epochs.

use bytes::Bytes;
use warp::http::header;
use warp::Reply;

/// A response body as it is and gzipped, with an entity tag of its content.
#[derive(Clone)]
pub struct Body {
    identity: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Body {
    /// `identity` with its gzipped copy and its entity tag, computed once.
    pub fn new(identity: Bytes) -> Body {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        identity.hash(&mut hasher);
        let gzip = gzip(&identity);
        Body {
            etag: format!("\"{:016x}\"", hasher.finish()),
            identity,
            gzip,
        }
    }

    /// The entity tag (quoted, as the `ETag` header carries it).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The reply: gzipped when the client accepts it, with its type and entity tag.
    pub fn reply(&self, content_type: &'static str, accepts_gzip: bool) -> warp::reply::Response {
        let mut response = match accepts_gzip {
            true => with_type(self.gzip.clone(), content_type),
            false => with_type(self.identity.clone(), content_type),
        };
        let headers = response.headers_mut();
        if accepts_gzip {
            headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
        }
        headers.insert(header::VARY, header::HeaderValue::from_static("accept-encoding"));
        if let Ok(etag) = header::HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

/// 304 Not Modified, with the entity tag the client holds.
pub fn not_modified(etag: &str) -> warp::reply::Response {
    let mut response = warp::reply::with_status(warp::reply(), warp::http::StatusCode::NOT_MODIFIED).into_response();
    if let Ok(etag) = header::HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

impl Body {
    /// [`Body::reply`], or a 304 when the client's `If-None-Match` names this body.
    pub fn reply_unless(
        &self,
        content_type: &'static str,
        accepts_gzip: bool,
        if_none_match: Option<&str>,
    ) -> warp::reply::Response {
        match if_none_match {
            Some(held) if held.split(',').any(|tag| tag.trim() == self.etag || tag.trim() == "*") => {
                not_modified(&self.etag)
            }
            _ => self.reply(content_type, accepts_gzip),
        }
    }
}

/// `body` gzipped (level 6: within a few percent of the best on SVG and JSON, at a fraction of
/// the time).
fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`, without `q=0`).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    header.is_some_and(|header| {
        header.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// `body` as it is (shared, not copied), with its content type.
fn with_type(body: Bytes, content_type: &'static str) -> warp::reply::Response {
    let mut response = warp::http::Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, identity")));
        assert!(!accepts_gzip(None));
    }
}
