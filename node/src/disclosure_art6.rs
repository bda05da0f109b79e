//! The disclosure page's per-year section "Article 6 / 国际转让" (rule 17): the art. 6
//! authorisations, exports and corresponding adjustments of a vintage year, from the same
//! public read the gRPC API serves (`ListInternationalTransfers`, `api::reads`). Kept apart
//! from `disclosure_page` (which only calls [`section`]) so that the page's layout can change
//! without touching it.

use crate::api::reads;
use crate::errors::ApiError;
use crate::ledger::dates;
use crate::limits::DISCLOSURE_TABLE_ROWS_MAX;
use crate::node::Node;
use carbon_proto::v1::{
    AdjustmentTrigger, ListInternationalTransfersRequest, ListInternationalTransfersResponse,
    MitigationPurpose, ReadConsistency, UnitClass,
};
use std::fmt::Write as _;
use std::sync::Arc;

/// HTML text: `& < > " '` escaped.
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

fn class_label(c: &UnitClass) -> String {
    let kind = c.kind().as_str_name().trim_start_matches("UNIT_KIND_");
    esc(&format!("{kind} {} {}", c.vintage, c.project_id))
}

fn purpose_label(p: MitigationPurpose) -> &'static str {
    match p {
        MitigationPurpose::Ndc => "国家自主贡献 NDC",
        MitigationPurpose::Oimp => "其他国际减缓目的 OIMP",
        MitigationPurpose::Unspecified => "—",
    }
}

fn date(ms: u64) -> String {
    dates::format_date(dates::date_of(ms))
}

/// Every record of the year, page after page of the public read.
fn records(node: &Arc<Node>, year: u32) -> Result<ListInternationalTransfersResponse, ApiError> {
    let mut all = ListInternationalTransfersResponse::default();
    loop {
        let r = reads::international_transfers(
            node,
            ListInternationalTransfersRequest {
                year,
                consistency: ReadConsistency::Local as i32,
                page_size: 0,
                page_token: std::mem::take(&mut all.next_page_token),
            },
        )?;
        all.authorisations.extend(r.authorisations);
        all.exports.extend(r.exports);
        all.adjustments.extend(r.adjustments);
        if r.next_page_token.is_empty() {
            return Ok(all);
        }
        all.next_page_token = r.next_page_token;
    }
}

fn table(o: &mut String, title: &str, header: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    let _ = write!(o, "<h3>{title}</h3>");
    if rows.is_empty() {
        let _ = write!(o, "<p class=\"empty\">{empty}</p>");
        return;
    }
    let total = rows.len();
    o.push_str("<div class=\"scroll\"><table><thead><tr>");
    for h in header {
        let _ = write!(o, "<th>{h}</th>");
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows.into_iter().take(DISCLOSURE_TABLE_ROWS_MAX) {
        o.push_str("<tr>");
        for c in r {
            let _ = write!(o, "<td>{c}</td>");
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div>");
    if total > DISCLOSURE_TABLE_ROWS_MAX {
        let more = total.saturating_sub(DISCLOSURE_TABLE_ROWS_MAX);
        let _ = write!(
            o,
            "<p class=\"more\">另有 {more} 行未显示 ({more} more rows; use the registry API)</p>"
        );
    }
}

/// The section of vintage `year` (HTML, a `<section id="art6">`).
pub fn section(node: &Arc<Node>, year: u32) -> Result<String, ApiError> {
    let r = records(node, year)?;
    let mut o = String::new();
    let _ = write!(
        o,
        "<section id=\"art6\"><h2>{year} 年度 Article 6 / 国际转让 <span>Paris Agreement art. 6: authorisations, exports and corresponding adjustments, vintage {year}</span></h2>\
         <p class=\"note\">按减排量所属年度（vintage）公开；出口的减排量永久离开本登记系统 · By vintage year; exported units leave this registry for good.</p>"
    );
    let rows = r
        .authorisations
        .iter()
        .map(|a| {
            let range = a.range.clone().unwrap_or_default();
            vec![
                date(a.timestamp_ms),
                esc(&a.project_id),
                class_label(&range.unit_class.unwrap_or_default()),
                format!("{}–{}", range.first, range.last),
                purpose_label(a.purpose()).to_string(),
                esc(&a.authorisation_reference),
            ]
        })
        .collect();
    let header = [
        "日期 Date",
        "项目 Project",
        "类别 Unit class",
        "序列号 Serials",
        "用途 Purpose",
        "授权文号 Reference",
    ];
    table(
        &mut o,
        "授权 Authorisations",
        &header,
        rows,
        "本年度暂无授权 · No authorisations for this vintage.",
    );
    let rows = r
        .exports
        .iter()
        .map(|e| {
            vec![
                date(e.timestamp_ms),
                esc(&e.holder),
                class_label(&e.unit_class.clone().unwrap_or_default()),
                e.quantity.to_string(),
                esc(&e.destination_registry),
                esc(&e.authorisation_references.join(", ")),
            ]
        })
        .collect();
    let header = [
        "日期 Date",
        "转出方 Holder",
        "类别 Unit class",
        "数量 t",
        "转入登记系统 Destination registry",
        "授权 Authorisation",
    ];
    table(
        &mut o,
        "国际转让 Exports",
        &header,
        rows,
        "本年度暂无国际转让 · No exports for this vintage.",
    );
    let rows = r
        .adjustments
        .iter()
        .map(|a| {
            let why = match a.trigger() {
                AdjustmentTrigger::FirstTransfer => "首次国际转让 First transfer",
                AdjustmentTrigger::OimpUse => "用于其他国际减缓目的 Use for OIMP",
                AdjustmentTrigger::Unspecified => "—",
            };
            vec![
                date(a.timestamp_ms),
                class_label(&a.unit_class.clone().unwrap_or_default()),
                a.quantity.to_string(),
                why.to_string(),
            ]
        })
        .collect();
    let header = ["日期 Date", "类别 Unit class", "数量 t", "原因 Trigger"];
    table(
        &mut o,
        "相应调整 Corresponding adjustments",
        &header,
        rows,
        "本年度暂无相应调整 · No corresponding adjustments for this vintage.",
    );
    o.push_str("</section>");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let c = UnitClass {
            kind: carbon_proto::v1::UnitKind::Ccer as i32,
            vintage: 2025,
            project_id: "P<1>".into(),
        };
        assert_eq!(class_label(&c), "CCER 2025 P&lt;1&gt;");
    }
}
