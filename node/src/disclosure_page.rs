//! The public disclosure page (信息公开): a read-only HTML page a citizen can open, served on its
//! own address (`disclosure_addr`; `carbon-node dev` defaults to 127.0.0.1:8080).
//!
//! It shows, for a year: compliance results, voluntary cancellations with beneficiary and purpose
//! (a cancellation is disclosed under the CST calendar year of the day it was recorded),
//! issuance by region and project (the forestry and blue-carbon sinks of Lishui, Zhoushan,
//! Xiangshan...), open repos and loans by unit class; and the market's daily average prices of
//! the last twelve months as a chart. Chinese with English labels. Everything comes from the same
//! public reads the gRPC API serves (`api::reads`), from this node's applied state: nothing
//! private (no balances, no counterparties of trades, repos or loans) is on it.
//!
//! The page is rendered on the server (HTML and an inline SVG chart, no script), so it works in
//! any browser and prints. Rendering reads sled and may block a tokio worker for a few
//! milliseconds; each table shows at most [`DISCLOSURE_TABLE_ROWS_MAX`](crate::limits::DISCLOSURE_TABLE_ROWS_MAX) rows.

use crate::api::reads;
use crate::errors::ApiError;
use crate::ledger::dates;
use crate::limits::DISCLOSURE_TABLE_ROWS_MAX;
use crate::node::Node;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use carbon_proto::v1::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

const LOCAL: i32 = ReadConsistency::Local as i32;

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

async fn page(State(node): State<Arc<Node>>, RawQuery(q): RawQuery) -> Response {
    let today = dates::date_of(crate::write::checks::now_ms());
    let year = match year_param(q.as_deref(), today) {
        Ok(y) => y,
        Err(m) => return (StatusCode::BAD_REQUEST, m).into_response(),
    };
    match render(&node, year, today) {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the page cannot be shown now: {}", e.message),
        )
            .into_response(),
    }
}

/// `?year=2025`; default: last year (the compliance year being settled).
fn year_param(q: Option<&str>, today: u32) -> Result<u32, String> {
    let Some(v) = q
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("year="))
    else {
        return Ok(today / 10_000 - 1);
    };
    match v.parse::<u32>() {
        Ok(y) if (2000..=2100).contains(&y) => Ok(y),
        _ => Err(format!("year {v:?} is not a year between 2000 and 2100")),
    }
}

/// Escapes text for HTML (names, purposes and beneficiaries are free text).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Fen as yuan with thousands separators: 4500000000 -> 45,000,000.00.
fn yuan(fen: u64) -> String {
    format!("{}.{:02}", units(fen / 100), fen % 100)
}

/// Thousands separators: 1234567 -> 1,234,567.
fn units(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

fn kind_label(k: UnitKind) -> &'static str {
    match k {
        UnitKind::Cea => "碳排放配额 CEA",
        UnitKind::Ccer => "核证自愿减排量 CCER",
        UnitKind::Forestry => "林业碳汇 Forestry sink",
        UnitKind::BlueCarbon => "海洋/湿地蓝碳 Blue carbon",
        UnitKind::Phcer => "普惠核证减排量 PHCER",
        UnitKind::Unspecified => "?",
    }
}

fn class_label(c: &UnitClass) -> String {
    let kind = c.kind().as_str_name().trim_start_matches("UNIT_KIND_");
    if c.project_id.is_empty() {
        format!("{kind} {}", c.vintage)
    } else {
        format!("{kind} {} {}", c.vintage, c.project_id)
    }
}

fn status_label(r: &ComplianceRecord) -> (&'static str, &'static str) {
    match r.status() {
        ComplianceStatus::Compliant => ("已履约 Compliant", "ok"),
        ComplianceStatus::NonCompliant => ("未足额履约 Non-compliant", "bad"),
        _ => ("待清缴 Pending", "pending"),
    }
}

/// A table with a bilingual header; rows are already escaped HTML cells.
fn table(out: &mut String, header: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{empty}</p>");
        return;
    }
    let total = rows.len();
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows.into_iter().take(DISCLOSURE_TABLE_ROWS_MAX) {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if total > DISCLOSURE_TABLE_ROWS_MAX {
        let _ = write!(
            out,
            "<p class=\"more\">另有 {} 行未显示 ({} more rows; use the registry API)</p>",
            total - DISCLOSURE_TABLE_ROWS_MAX,
            total - DISCLOSURE_TABLE_ROWS_MAX
        );
    }
}

fn name_of(
    node: &Arc<Node>,
    id: &str,
    cache: &mut BTreeMap<String, (String, String)>,
) -> (String, String) {
    if let Some(v) = cache.get(id) {
        return v.clone();
    }
    let v = reads::account(
        node,
        GetAccountRequest {
            account_id: id.into(),
            consistency: LOCAL,
        },
    )
    .ok()
    .and_then(|r| r.account)
    .map_or((String::new(), String::new()), |a| (a.name, a.region));
    cache.insert(id.to_string(), v.clone());
    v
}

fn render(node: &Arc<Node>, year: u32, today: u32) -> Result<String, ApiError> {
    let d = reads::disclosure(
        node,
        GetDisclosureRequest {
            year,
            consistency: LOCAL,
            ..Default::default()
        },
    )?;
    let closed = reads::compliance(
        node,
        GetComplianceRequest {
            year,
            enterprise_id: String::new(),
            consistency: LOCAL,
            ..Default::default()
        },
    )?
    .year_closed;
    let head = reads::chain_head(node, GetChainHeadRequest { consistency: LOCAL })?;
    let first = {
        // Twelve months back: the same day a year earlier.
        let y = today / 10_000 - 1;
        let md = today % 10_000;
        let d = y * 10_000 + md;
        if dates::is_valid_date(d) {
            d
        } else {
            y * 10_000 + 228
        }
    };
    let market = reads::market_stats(
        node,
        GetMarketStatsRequest {
            unit_class: None,
            from_date: first,
            to_date: today,
            consistency: LOCAL,
            ..Default::default()
        },
    )?;
    let mut names = BTreeMap::new();
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>浙江省碳排放权注册登记 信息公开 {year} — Zhejiang carbon registry public disclosure</title>\
         <style>{CSS}</style></head><body><header><h1>浙江省碳排放权注册登记系统 · 信息公开</h1>\
         <p class=\"en\">Zhejiang carbon registry · Public disclosure</p>\
         <nav>年度 Year: <a href=\"?year={prev}\">← {prev}</a> <strong>{year}</strong> <a href=\"?year={next}\">{next} →</a></nav>\
         <p class=\"meta\">数据截至链上序号 {seq}（{date}，北京时间）· As of chain sequence {seq}, {date} CST · chain {chain}</p></header><main>",
        prev = year - 1,
        next = year + 1,
        seq = head.sequence,
        date = dates::format_date(today),
        chain = esc(&head.chain_id),
    );

    // Compliance results.
    let _ = write!(
        o,
        "<section id=\"compliance\"><h2>{year} 年度履约结果 <span>Compliance results {year}</span></h2>\
         <p class=\"note\">{}</p>",
        if closed {
            "履约期已结束 · The compliance year is closed."
        } else {
            "履约期尚未结束，结果为当前进度 · The year is not closed: figures are progress so far."
        }
    );
    let rows = d
        .compliance
        .iter()
        .map(|r| {
            let (name, region) = name_of(node, &r.enterprise_id, &mut names);
            let (status, class) = status_label(r);
            vec![
                format!("{}<br><small>{}</small>", esc(&name), esc(&r.enterprise_id)),
                esc(&region),
                units(r.verified_emissions),
                units(r.obligation),
                units(r.surrendered_allowances),
                units(r.surrendered_credits),
                format!("<span class=\"{class}\">{status}</span>"),
                units(r.shortfall),
                yuan(r.penalty_fen),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "重点排放单位 Enterprise",
            "地区 Region",
            "核查排放量 Verified t",
            "应清缴 Obligation",
            "配额清缴 Allowances",
            "抵销 Offsets",
            "状态 Status",
            "缺口 Shortfall",
            "罚款 Penalty CNY",
        ],
        rows,
        "本年度暂无履约记录 · No compliance records for this year.",
    );
    o.push_str("</section>");

    // Cancellations.
    let _ = write!(
        o,
        "<section id=\"cancellations\"><h2>{year} 年自愿注销 <span>Voluntary cancellations {year}</span></h2>\
         <p class=\"note\">按注销登记日（北京时间）所在年度公开 · Disclosed under the calendar year (CST) in which the cancellation was recorded.</p>"
    );
    let rows = d
        .cancellations
        .iter()
        .map(|c| {
            let (name, _) = name_of(node, &c.holder, &mut names);
            let class = c.unit_class.clone().unwrap_or_default();
            vec![
                dates::format_date(dates::date_of(c.timestamp_ms)),
                format!("{}<br><small>{}</small>", esc(&name), esc(&c.holder)),
                esc(&class_label(&class)),
                units(c.quantity),
                esc(&c.beneficiary),
                esc(&c.purpose),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "日期 Date",
            "注销方 Holder",
            "类别 Unit class",
            "数量 t",
            "受益方 Beneficiary",
            "用途 Purpose",
        ],
        rows,
        "本年度暂无自愿注销 · No cancellations recorded this year.",
    );
    o.push_str("</section>");

    // Issuance by region and project.
    let _ = write!(
        o,
        "<section id=\"issuance\"><h2>{year} 年度签发（按地区和项目）<span>Issuance by region and project, monitoring year {year}</span></h2>"
    );
    let projects: BTreeMap<&str, &Project> = d
        .projects
        .iter()
        .map(|p| (p.project_id.as_str(), p))
        .collect();
    let mut by_project: BTreeMap<(String, String), (u64, u32)> = BTreeMap::new();
    for i in &d.issuances {
        let region = projects
            .get(i.project_id.as_str())
            .map_or(String::new(), |p| p.region.clone());
        let e = by_project
            .entry((region, i.project_id.clone()))
            .or_default();
        e.0 = e.0.saturating_add(i.quantity);
        e.1 += 1;
    }
    let mut region_totals: BTreeMap<&str, u64> = BTreeMap::new();
    for ((region, _), (q, _)) in &by_project {
        let t = region_totals.entry(region.as_str()).or_default();
        *t = t.saturating_add(*q);
    }
    let rows = by_project
        .iter()
        .map(|((region, id), (q, n))| {
            let p = projects.get(id.as_str());
            vec![
                esc(region),
                format!(
                    "{}<br><small>{}</small>",
                    esc(p.map_or("", |p| p.name.as_str())),
                    esc(id)
                ),
                p.map_or("?", |p| kind_label(p.kind())).to_string(),
                esc(p.map_or("", |p| p.methodology.as_str())),
                units(*q),
                n.to_string(),
                units(p.map_or(0, |p| p.issued_total)),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "地区 Region",
            "项目 Project",
            "类型 Kind",
            "方法学 Methodology",
            "本年签发 Issued t",
            "签发次数 Issuances",
            "累计签发 Total issued t",
        ],
        rows,
        "本年度暂无签发 · No issuance for this monitoring year.",
    );
    if !region_totals.is_empty() {
        o.push_str("<p class=\"totals\">各地区合计 Totals by region: ");
        let parts: Vec<String> = region_totals
            .iter()
            .map(|(r, q)| format!("{} {} t", esc(r), units(*q)))
            .collect();
        o.push_str(&parts.join(" · "));
        o.push_str("</p>");
    }
    o.push_str("</section>");

    // Market prices.
    let _ = write!(
        o,
        "<section id=\"market\"><h2>碳市场成交均价（近12个月）<span>Market prices, last twelve months</span></h2>\
         <p class=\"note\">{} 至 {}，按日成交量加权平均价（元/吨）；仅含已结束且成交不少于最低笔数的交易日 · Daily volume-weighted average price, CNY per tonne; complete days with at least the minimum number of trades only.</p>",
        dates::format_date(first),
        dates::format_date(today)
    );
    chart(&mut o, &market.days, first, today);
    o.push_str("</section>");

    // Repo and lending.
    o.push_str(
        "<section id=\"financing\"><h2>未结回购与借碳（按类别）<span>Open repos and loans by unit class</span></h2>\
         <p class=\"note\">当前数据，不含交易对手；不足最低笔数的类别不予公布（—） · Current positions, without counterparties; a figure over fewer than the minimum number of contracts is withheld (—).</p>",
    );
    let withheld = |shown: bool, n: String| if shown { n } else { "—".to_string() };
    let rows = d
        .financing
        .iter()
        .map(|f| {
            vec![
                esc(&class_label(&f.unit_class.clone().unwrap_or_default())),
                withheld(!f.repos_withheld, f.open_repos.to_string()),
                withheld(!f.repos_withheld, units(f.repo_units)),
                withheld(!f.loans_withheld, f.open_loans.to_string()),
                withheld(!f.loans_withheld, units(f.loan_units)),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "类别 Unit class",
            "回购笔数 Open repos",
            "回购数量 Repo t",
            "借碳笔数 Open loans",
            "借出未还 Lent t",
        ],
        rows,
        "暂无未结回购或借碳 · No open repos or loans.",
    );
    o.push_str(
        "</section></main><footer>本页仅展示公开信息，不含任何账户余额 · This page shows public information only: no account balances.</footer></body></html>",
    );
    Ok(o)
}

/// Per unit kind, the volume-weighted average price of each day (fen), in date order.
fn series(days: &[MarketDay]) -> BTreeMap<i32, Vec<(u32, u64, u64)>> {
    let mut acc: BTreeMap<(i32, u32), (u128, u128)> = BTreeMap::new();
    for d in days {
        let kind = d.unit_class.as_ref().map_or(0, |c| c.kind);
        let e = acc.entry((kind, d.date)).or_default();
        e.0 += u128::from(d.turnover_fen);
        e.1 += u128::from(d.volume);
    }
    let mut out: BTreeMap<i32, Vec<(u32, u64, u64)>> = BTreeMap::new();
    for ((kind, date), (turnover, volume)) in acc {
        if let Some(price) = turnover.checked_div(volume) {
            let price = u64::try_from(price).unwrap_or(u64::MAX);
            let volume = u64::try_from(volume).unwrap_or(u64::MAX);
            out.entry(kind).or_default().push((date, price, volume));
        }
    }
    out
}

const COLORS: [(i32, &str); 4] = [
    (UnitKind::Cea as i32, "#c0392b"),
    (UnitKind::Ccer as i32, "#2471a3"),
    (UnitKind::Forestry as i32, "#1e8449"),
    (UnitKind::BlueCarbon as i32, "#148f77"),
];

/// An SVG line chart of daily prices per unit kind between two dates, with a legend and a table.
fn chart(o: &mut String, days: &[MarketDay], first: u32, last: u32) {
    let s = series(days);
    if s.is_empty() {
        o.push_str("<p class=\"empty\">近12个月无成交 · No trades in the last twelve months.</p>");
        return;
    }
    let (w, h, left, right, top, bottom) = (900.0, 320.0, 70.0, 20.0, 20.0, 40.0);
    let t0 = dates::start_ms(first) as f64;
    let span = ((dates::start_ms(last) as f64) - t0).max(86_400_000.0);
    let max_price = s
        .values()
        .flatten()
        .map(|&(_, p, _)| p)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = (max_price / 100.0 / 20.0).ceil() * 20.0; // CNY, rounded up to 20
    let x = |date: u32| left + (dates::start_ms(date) as f64 - t0) / span * (w - left - right);
    let y = |fen: u64| top + (1.0 - fen as f64 / 100.0 / y_max) * (h - top - bottom);
    let _ = write!(
        o,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"碳市场成交均价 Market prices\">"
    );
    // Axes, price grid, month ticks.
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let yy = top + (1.0 - f64::from(i) / 4.0) * (h - top - bottom);
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" class=\"grid\"/>\
             <text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{v:.0}</text>",
            w - right,
            left - 6.0,
            yy + 4.0
        );
    }
    let _ = write!(
        o,
        "<text x=\"14\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 14 {})\">元/吨 CNY/t</text>",
        h / 2.0,
        h / 2.0
    );
    let mut m = first / 100;
    while m <= last / 100 {
        let d = m * 100 + 1;
        if d >= first {
            let xx = x(d);
            let _ = write!(
                o,
                "<line x1=\"{xx:.1}\" y1=\"{}\" x2=\"{xx:.1}\" y2=\"{}\" class=\"grid\"/>\
                 <text x=\"{xx:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}月</text>",
                h - bottom,
                h - bottom + 5.0,
                h - bottom + 20.0,
                m % 100
            );
        }
        m = if m % 100 == 12 { m + 89 } else { m + 1 };
    }
    for (kind, points) in &s {
        let color = COLORS
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("#555", |(_, c)| c);
        let pts: Vec<String> = points
            .iter()
            .map(|&(d, p, _)| format!("{:.1},{:.1}", x(d), y(p)))
            .collect();
        let _ = write!(
            o,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            pts.join(" ")
        );
        for &(d, p, v) in points {
            let _ = write!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{} {} {} 元/吨, {} t</title></circle>",
                x(d),
                y(p),
                dates::format_date(d),
                kind_label(UnitKind::try_from(*kind).unwrap_or_default()),
                yuan(p),
                units(v)
            );
        }
    }
    o.push_str("</svg><ul class=\"legend\">");
    for kind in s.keys() {
        let color = COLORS
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("#555", |(_, c)| c);
        let _ = write!(
            o,
            "<li><span style=\"background:{color}\"></span>{}</li>",
            kind_label(UnitKind::try_from(*kind).unwrap_or_default())
        );
    }
    o.push_str("</ul>");
    // The figures behind the chart, latest first.
    let mut rows: Vec<(u32, i32, u64, u64)> = s
        .iter()
        .flat_map(|(k, pts)| pts.iter().map(move |&(d, p, v)| (d, *k, p, v)))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let rows = rows
        .into_iter()
        .map(|(d, k, p, v)| {
            vec![
                dates::format_date(d),
                kind_label(UnitKind::try_from(k).unwrap_or_default()).to_string(),
                yuan(p),
                units(v),
            ]
        })
        .collect();
    table(
        o,
        &[
            "日期 Date",
            "类别 Kind",
            "均价 Average CNY/t",
            "成交量 Volume t",
        ],
        rows,
        "",
    );
}

const CSS: &str = "body{font-family:'Noto Sans CJK SC','Noto Sans SC','PingFang SC','Microsoft YaHei',sans-serif;margin:0;color:#1b2631;background:#f4f6f7}\
header{background:#145a32;color:#fff;padding:18px 32px}header h1{margin:0;font-size:26px}\
header .en{margin:2px 0 8px;opacity:.85}header nav a{color:#d5f5e3;margin:0 6px}\
header .meta{font-size:13px;opacity:.8;margin:6px 0 0}main{padding:8px 32px 24px}\
section{background:#fff;border-radius:6px;padding:14px 20px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}\
h2{font-size:20px;margin:4px 0 8px}h2 span{font-size:14px;color:#566573;font-weight:normal;margin-left:8px}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #e5e8e8;padding:6px 8px;text-align:left;vertical-align:top}\
th{background:#eafaf1;font-weight:600}td small{color:#7f8c8d}.ok{color:#1e8449}.bad{color:#c0392b;font-weight:600}.pending{color:#b9770e}\
.note,.empty,.more,.totals{color:#566573;font-size:13px}.chart{width:100%;max-width:900px;height:auto;display:block}\
.grid{stroke:#d5d8dc;stroke-width:1}.tick,.axis{font-size:12px;fill:#566573}\
.legend{list-style:none;padding:0;display:flex;gap:18px;font-size:14px}.legend span{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:middle;border-radius:2px}\
footer{padding:12px 32px 28px;color:#566573;font-size:13px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_years_are_checked() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(year_param(None, 20261125), Ok(2025));
        assert_eq!(year_param(Some("year=2026"), 20261125), Ok(2026));
        assert!(year_param(Some("year=abc"), 20261125).is_err());
        assert!(year_param(Some("year=1900"), 20261125).is_err());
        assert_eq!(units(1_234_567), "1,234,567");
        assert_eq!(units(12), "12");
        assert_eq!(yuan(4_500_000_000), "45,000,000.00");
        assert_eq!(yuan(5), "0.05");
    }

    #[test]
    fn the_chart_averages_each_kind_per_day_by_volume() {
        let day = |kind: UnitKind, vintage, date, volume, turnover| MarketDay {
            unit_class: Some(UnitClass {
                kind: kind as i32,
                vintage,
                project_id: String::new(),
            }),
            date,
            trades: 1,
            volume,
            turnover_fen: turnover,
            average_price_fen: turnover / volume,
        };
        let s = series(&[
            day(UnitKind::Cea, 2025, 20261125, 100, 100 * 9_000),
            day(UnitKind::Cea, 2026, 20261125, 300, 300 * 10_000),
            day(UnitKind::Cea, 2025, 20261126, 10, 10 * 9_500),
        ]);
        assert_eq!(
            s[&(UnitKind::Cea as i32)],
            vec![(20261125, 9_750, 400), (20261126, 9_500, 10)]
        );
    }
}
