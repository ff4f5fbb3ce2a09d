//! Roost's web console: static pages served at `/console/`, embedded in the binary. The pages
//! are only a client of Roost's signed AWS IoT API (the browser signs each request with the
//! keys the user types), so this crate serves files and nothing else: no route here reads the
//! registry or the broker.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Every file under `assets/`, by its path relative to it (`/`-separated), sorted.
static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The pages load only their own scripts and styles and talk only to their own origin (the
/// API, and `/mqtt` over WebSocket), so an API string that slipped into the page as markup
/// could still run nothing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// `GET /console` (redirected to `/console/`), `/console/` (the page) and `/console/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(|| async { asset("index.html") }))
        .route(
            "/console/{*file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

/// The embedded file at `name`, or 404.
fn asset(name: &str) -> Response {
    let Ok(at) = ASSETS.binary_search_by(|(path, _)| (*path).cmp(name)) else {
        return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
    };
    let mut response = ASSETS[at].1.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(name));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The binary is the version: a browser asks again rather than mixing two versions' files.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn content_type(name: &str) -> HeaderValue {
    let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
    HeaderValue::from_static(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[test]
    fn the_asset_table_is_sorted_and_has_the_page() {
        assert!(ASSETS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(ASSETS.iter().any(|(name, _)| *name == "index.html"));
    }

    #[tokio::test]
    async fn the_page_is_served_with_its_type_and_a_policy_that_forbids_inline_scripts() {
        let response = get("/console/").await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let index = ASSETS
            .iter()
            .find(|(name, _)| *name == "index.html")
            .unwrap();
        assert_eq!(&body[..], index.1);
    }

    #[tokio::test]
    async fn every_embedded_file_is_served_at_its_path() {
        for (name, bytes) in ASSETS {
            let response = get(&format!("/console/{name}")).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], *bytes, "{name}");
        }
    }

    #[tokio::test]
    async fn the_bare_path_redirects_and_unknown_files_are_not_found() {
        let response = get("/console").await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()[header::LOCATION], "/console/");
        for path in [
            "/console/nope.js",
            "/console/../Cargo.toml",
            "/console/%2e%2e/x",
        ] {
            assert_eq!(get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("vendor/mqtt.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
