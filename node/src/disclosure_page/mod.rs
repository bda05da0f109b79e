//! The public disclosure page (信息公开): a read-only HTML page a citizen can open, served on its
//! own address (`disclosure_addr`; `carbon-node dev` defaults to 127.0.0.1:8080).
//!
//! It shows, for a year: compliance results and each penalty with the reference price, window
//! and multiplier behind it; voluntary cancellations with beneficiary and purpose (a
//! cancellation is disclosed under the CST calendar year of the day it was recorded); issuance by
//! region and project (the forestry and blue-carbon sinks of Lishui, Zhoushan, Xiangshan...);
//! open repos and loans by unit class; and the market's daily average prices of the last twelve
//! months as a chart. Everything comes from the same public reads the gRPC API serves
//! (`api::reads`), from this node's applied state: nothing private (no balances, no
//! counterparties of trades, repos or loans) is on it.
//!
//! `GET /?year=2026&lang=en`: without `year`, the latest year with data (compliance records,
//! cancellations or issuance), with a picker of every year that has some; `lang` is `zh`
//! (the default) or `en`. Links carry both, so the page needs no script.
//!
//! The page is rendered on the server (HTML and an inline SVG chart, no script), so it works in
//! any browser, on a phone (responsive CSS: wide tables scroll inside their section) and prints.
//! Rendering reads sled and may block a tokio worker for a few milliseconds; each table shows at
//! most [`DISCLOSURE_TABLE_ROWS_MAX`](crate::limits::DISCLOSURE_TABLE_ROWS_MAX) rows.
//!
//! Parts: [`data`] gathers what a page shows from the public reads, [`html`] writes the
//! document (one function per section), [`svg`] draws the price chart, [`art6`] reads and
//! writes the Article 6 section (rule 17).

mod art6;
mod data;
mod html;
mod svg;

use crate::ledger::dates;
use crate::node::Node;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Serves the page on a bound listener until `shutdown` resolves.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Router::new().route("/", get(page)).with_state(node);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "public disclosure page");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The page's language (`?lang=zh|en`; Chinese by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The text in this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        self.t("zh", "en")
    }
}

/// What the query string asks for: a year (None: the latest with data) and a language.
#[derive(Debug, PartialEq, Eq)]
struct Query {
    year: Option<u32>,
    lang: Lang,
}

async fn page(State(node): State<Arc<Node>>, RawQuery(q): RawQuery) -> Response {
    let today = dates::date_of(crate::write::checks::now_ms());
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(m) => return (StatusCode::BAD_REQUEST, m).into_response(),
    };
    match data::load(&node, q.year, today) {
        Ok(d) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html::render(&d, q.lang),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the page cannot be shown now: {}", e.message),
        )
            .into_response(),
    }
}

/// `?year=2025&lang=en`; unknown parameters are ignored.
fn query(q: Option<&str>) -> Result<Query, String> {
    let mut out = Query {
        year: None,
        lang: Lang::Zh,
    };
    for kv in q.unwrap_or("").split('&') {
        if let Some(v) = kv.strip_prefix("year=") {
            match v.parse::<u32>() {
                Ok(y) if (2000..=2100).contains(&y) => out.year = Some(y),
                _ => return Err(format!("year {v:?} is not a year between 2000 and 2100")),
            }
        } else if let Some(v) = kv.strip_prefix("lang=") {
            out.lang = match v {
                "zh" => Lang::Zh,
                "en" => Lang::En,
                _ => return Err(format!("lang {v:?} is not zh or en")),
            };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_and_languages_are_read_from_the_query() {
        let q = |s| query(Some(s));
        assert_eq!(
            query(None),
            Ok(Query {
                year: None,
                lang: Lang::Zh
            })
        );
        assert_eq!(
            q("year=2026&lang=en"),
            Ok(Query {
                year: Some(2026),
                lang: Lang::En
            })
        );
        assert_eq!(
            q("lang=zh&x=1"),
            Ok(Query {
                year: None,
                lang: Lang::Zh
            })
        );
        assert!(q("year=abc").is_err());
        assert!(q("year=1900").is_err());
        assert!(q("lang=fr").is_err());
    }
}
