//! `tt-vault serve`: a local, read-only web viewer of the archive.
//!
//! - [`mod@self`]: the server — state, routes, the token guard and security headers.
//! - [`pages`]: one handler per page; reads the catalogue ([`crate::catalogue::browse`]).
//! - [`views`]: the HTML (maud: everything spliced in is escaped at compile time).
//! - [`media`]: files streamed from the packs with HTTP Range, blob by blob.
//! - [`profile_page`]: the watched public profile: archived avatar, counts, history.
//!
//! Safety: it binds 127.0.0.1 unless told otherwise and answers 401 to any request
//! without the random token (taken once from `?token=`, then an HttpOnly SameSite=Strict
//! cookie). It opens the index read-only and never writes the vault. Pages load
//! nothing from outside (a Content-Security-Policy of `'self'` says so to the browser).

mod media;
mod pages;
mod profile_page;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rusqlite::Connection;

use crate::store::snapshots::{self, Snapshot};
use crate::store::{Repository, Vault};

/// How the viewer starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// Show only this account.
    pub account: Option<String>,
    /// The snapshot the home page opens first.
    pub start: Snapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}; pick another with --port or --listen")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the web server stopped: {0}")]
    Server(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What every handler shares.
struct App {
    vault: Vault,
    token: String,
    cookie: String,
    account: Option<String>,
    start: Snapshot,
    /// Read-only repositories (connections to the index), re-used between requests.
    pool: Mutex<Vec<Repository>>,
}

type Shared = Arc<App>;

/// An error page: 404 for what does not exist, 400 for a malformed request, 500 for
/// a vault that cannot be read.
#[derive(Debug)]
pub(crate) enum WebError {
    NotFound(String),
    /// A 404 that points somewhere useful: `(text, href, label)`.
    NotFoundSee(String, String, String),
    BadRequest(String),
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut see = None;
        let (status, text) = match self {
            WebError::NotFound(t) => (StatusCode::NOT_FOUND, t),
            WebError::NotFoundSee(t, href, label) => {
                see = Some((href, label));
                (StatusCode::NOT_FOUND, t)
            }
            WebError::BadRequest(t) => (StatusCode::BAD_REQUEST, t),
            WebError::Internal(t) => {
                eprintln!("tt-vault serve: {t}");
                (StatusCode::INTERNAL_SERVER_ERROR, t)
            }
        };
        (
            status,
            views::html(views::error_page(status.as_u16(), &text, see)),
        )
            .into_response()
    }
}

macro_rules! internal {
    ($($t:ty),*) => {$(
        impl From<$t> for WebError {
            fn from(e: $t) -> Self {
                WebError::Internal(e.to_string())
            }
        }
    )*};
}
internal!(
    rusqlite::Error,
    crate::store::StoreError,
    crate::catalogue::CatalogueError,
    crate::store::reader::ReadError
);

type WebResult<T> = Result<T, WebError>;

impl App {
    /// Runs `f` with a read-only repository on a blocking thread (SQLite and pack
    /// reads block).
    async fn with_repo<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&App, &Repository) -> WebResult<T> + Send + 'static,
    ) -> WebResult<T> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = app.pool.lock().expect("pool lock").pop();
            let repo = match taken {
                Some(r) => r,
                None => Repository::open_read_only(&app.vault)?,
            };
            let out = f(&app, &repo);
            let mut pool = app.pool.lock().expect("pool lock");
            if pool.len() < 8 {
                pool.push(repo);
            }
            out
        })
        .await
        .map_err(|e| WebError::Internal(format!("a request failed: {e}")))?
    }

    /// [`App::with_repo`] for the catalogue, which reads its own tables.
    async fn with_conn<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&App, &Connection) -> WebResult<T> + Send + 'static,
    ) -> WebResult<T> {
        self.with_repo(move |app, repo| f(app, repo.conn())).await
    }

    /// The snapshot an URL names (any unique prefix of its id), within the account
    /// the viewer was limited to.
    fn snapshot(&self, conn: &Connection, id: &str) -> WebResult<Snapshot> {
        let unknown = || WebError::NotFound(format!("no snapshot {id} in this vault"));
        let snap = snapshots::by_prefix(conn, id).map_err(|e| match e {
            crate::store::StoreError::NoSuchSnapshot(_)
            | crate::store::StoreError::Ambiguous { .. } => unknown(),
            other => other.into(),
        })?;
        if self.account.as_ref().is_some_and(|a| *a != snap.account) {
            return Err(unknown());
        }
        Ok(snap)
    }
}

/// Serves until the process is stopped. `ready` gets the address to open, token
/// included, once the socket listens.
pub fn run(vault: &Vault, opts: Options, ready: &dyn Fn(&str)) -> Result<(), ServeError> {
    // Fail now, not on the first request, when the index cannot be read.
    let repo = Repository::open_read_only(vault)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Server)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(ServeError::Server)?;
        let app = Arc::new(App {
            vault: vault.clone(),
            // Cookies are per host, not per port: one name per port keeps two
            // viewers on one machine apart.
            cookie: format!("tt_vault_{}", addr.port()),
            token: hex::encode(rand::random::<[u8; 24]>()),
            account: opts.account,
            start: opts.start,
            pool: Mutex::new(vec![repo]),
        });
        // Listening on every address: loopback is one of them.
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        ready(&format!("http://{shown}/?token={}", app.token));
        axum::serve(listener, router(app))
            .await
            .map_err(ServeError::Server)
    })
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/go", get(pages::go))
        .route("/static/{name}", get(views::asset))
        .route("/media/{name}", get(media::serve))
        .route("/s/{snap}", get(pages::profile))
        .route("/s/{snap}/posts", get(pages::posts))
        .route("/s/{snap}/post/{id}", get(pages::post))
        .route("/s/{snap}/list/{section}", get(pages::list))
        .route("/s/{snap}/messages", get(pages::chats))
        .route("/s/{snap}/messages/{chat}", get(pages::thread))
        .route("/s/{snap}/search", get(pages::search))
        .route("/s/{snap}/diff", get(pages::diff))
        .fallback(|| async { WebError::NotFound("no such page".into()) })
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The token guard, and the headers every answer carries.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let mut response = match authorise(&app, &req) {
        Access::Granted => next.run(req).await,
        Access::SetCookie(clean) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, clean),
                (
                    header::SET_COOKIE,
                    format!(
                        "{}={}; HttpOnly; SameSite=Strict; Path=/",
                        app.cookie, app.token
                    ),
                ),
            ],
        )
            .into_response(),
        Access::Denied => (
            StatusCode::UNAUTHORIZED,
            views::html(views::error_page(
                401,
                "This archive needs its token: open the address `tt-vault serve` printed.",
                None,
            )),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             media-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

enum Access {
    Granted,
    /// The right token in the query: set the cookie and send the browser to this
    /// address without it (so the token stays out of history and Referer).
    SetCookie(String),
    Denied,
}

fn authorise(app: &App, req: &Request) -> Access {
    let uri = req.uri();
    let query = uri.query().unwrap_or("");
    let given = query.split('&').find_map(|kv| kv.strip_prefix("token="));
    if given.is_some_and(|t| same(t, &app.token)) {
        let rest: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.starts_with("token=") && !kv.is_empty())
            .collect();
        let mut clean = uri.path().to_string();
        if !rest.is_empty() {
            clean.push('?');
            clean.push_str(&rest.join("&"));
        }
        return Access::SetCookie(clean);
    }
    let has_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == app.cookie && same(v, &app.token));
    if has_cookie {
        Access::Granted
    } else {
        Access::Denied
    }
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
