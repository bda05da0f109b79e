//! The section "Article 6 / 国际转让" (rule 17): the art. 6 authorisations, exports and
//! corresponding adjustments of a vintage year, from the same public read the gRPC API serves
//! (`ListInternationalTransfers`, `api::reads`).

use super::html::{esc, table};
use super::Lang;
use crate::api::reads;
use crate::errors::ApiError;
use crate::ledger::dates;
use crate::limits::DISCLOSURE_ROWS_READ_MAX;
use crate::node::Node;
use carbon_proto::v1::{
    AdjustmentTrigger, ListInternationalTransfersRequest, ListInternationalTransfersResponse,
    MitigationPurpose, ReadConsistency, UnitClass,
};
use std::fmt::Write as _;
use std::sync::Arc;

fn class_label(c: &UnitClass) -> String {
    esc(&carbon_proto::names::class_label(c))
}

fn purpose_label(p: MitigationPurpose, lang: Lang) -> &'static str {
    match p {
        MitigationPurpose::Ndc => lang.t("国家自主贡献 NDC", "NDC"),
        MitigationPurpose::Oimp => lang.t(
            "其他国际减缓目的 OIMP",
            "Other international mitigation purposes (OIMP)",
        ),
        MitigationPurpose::Unspecified => "—",
    }
}

fn date(ms: u64) -> String {
    dates::format_date(dates::date_of(ms))
}

/// The year's records, page after page of the public read, up to `DISCLOSURE_ROWS_READ_MAX`.
pub fn records(
    node: &Arc<Node>,
    year: u32,
) -> Result<ListInternationalTransfersResponse, ApiError> {
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
        let read = all.authorisations.len() + all.exports.len() + all.adjustments.len();
        if r.next_page_token.is_empty() || read >= DISCLOSURE_ROWS_READ_MAX {
            return Ok(all);
        }
        all.next_page_token = r.next_page_token;
    }
}

/// The section of vintage `year` (a `<section id="art6">`).
pub fn section(o: &mut String, r: &ListInternationalTransfersResponse, year: u32, lang: Lang) {
    let _ = write!(
        o,
        "<section id=\"art6\"><h2>{}</h2><p class=\"note\">{}</p>",
        match lang {
            Lang::Zh => format!("{year} 年度 Article 6 / 国际转让"),
            Lang::En => format!("Article 6 / 国际转让: international transfers, vintage {year}"),
        },
        lang.t(
            "按减排量所属年度（vintage）公开；出口的减排量永久离开本登记系统。",
            "By vintage year; exported units leave this registry for good."
        )
    );
    authorisations(o, r, lang);
    exports(o, r, lang);
    adjustments(o, r, lang);
    o.push_str("</section>");
}

fn authorisations(o: &mut String, r: &ListInternationalTransfersResponse, lang: Lang) {
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
                purpose_label(a.purpose(), lang).to_string(),
                esc(&a.authorisation_reference),
            ]
        })
        .collect();
    let header = match lang {
        Lang::Zh => ["日期", "项目", "类别", "序列号", "用途", "授权文号"],
        Lang::En => [
            "Date",
            "Project",
            "Unit class",
            "Serials",
            "Purpose",
            "Reference",
        ],
    };
    let _ = write!(o, "<h3>{}</h3>", lang.t("授权", "Authorisations"));
    let empty = lang.t("本年度暂无授权。", "No authorisations for this vintage.");
    table(o, &header, rows, empty, lang);
}

fn exports(o: &mut String, r: &ListInternationalTransfersResponse, lang: Lang) {
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
    let header = match lang {
        Lang::Zh => [
            "日期",
            "转出方",
            "类别",
            "数量（吨）",
            "转入登记系统",
            "授权",
        ],
        Lang::En => [
            "Date",
            "Holder",
            "Unit class",
            "Tonnes",
            "Destination registry",
            "Authorisation",
        ],
    };
    let _ = write!(o, "<h3>{}</h3>", lang.t("国际转让", "Exports"));
    let empty = lang.t("本年度暂无国际转让。", "No exports for this vintage.");
    table(o, &header, rows, empty, lang);
}

fn adjustments(o: &mut String, r: &ListInternationalTransfersResponse, lang: Lang) {
    let rows = r
        .adjustments
        .iter()
        .map(|a| {
            let why = match a.trigger() {
                AdjustmentTrigger::FirstTransfer => lang.t("首次国际转让", "First transfer abroad"),
                AdjustmentTrigger::OimpUse => lang.t("用于其他国际减缓目的", "Use for OIMP"),
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
    let header = match lang {
        Lang::Zh => ["日期", "类别", "数量（吨）", "原因"],
        Lang::En => ["Date", "Unit class", "Tonnes", "Trigger"],
    };
    let _ = write!(
        o,
        "<h3>{}</h3>",
        lang.t("相应调整", "Corresponding adjustments")
    );
    let empty = lang.t(
        "本年度暂无相应调整。",
        "No corresponding adjustments for this vintage.",
    );
    table(o, &header, rows, empty, lang);
}
