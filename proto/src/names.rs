//! Stable snake-case names of operations, shared by statements, `carbonctl` and the disclosure
//! page (one concept, one name: the glossary's words), and how a unit class is written.

use crate::v1::tx_body::Operation;
use crate::v1::UnitClass;

/// A unit class as the registry writes it in text (statements, messages, the disclosure page):
/// `CEA 2025`, `CCER 2025 ZJ-ZS-WIND-001`, `PHCER 2026 ZJ-PH-BUS-V01`. carbonctl's input
/// notation is `KIND:VINTAGE[:PROJECT]` (`carbon_client::ops::parse_class`).
pub fn class_label(c: &UnitClass) -> String {
    let kind = c.kind().as_str_name().trim_start_matches("UNIT_KIND_");
    if c.project_id.is_empty() {
        format!("{kind} {}", c.vintage)
    } else {
        format!("{kind} {} {}", c.vintage, c.project_id)
    }
}

/// The name of an operation, e.g. `trade`, `repo_default`.
pub fn operation(op: &Operation) -> &'static str {
    use Operation as O;
    match op {
        O::OpenAccount(_) => "open_account",
        O::UpdateKeys(_) => "update_keys",
        O::SuspendAccount(_) => "suspend_account",
        O::ReinstateAccount(_) => "reinstate_account",
        O::CloseAccount(_) => "close_account",
        O::DeclareVintage(_) => "declare_vintage",
        O::Allocate(_) => "allocate",
        O::TrueUp(_) => "true_up",
        O::ProposeProject(_) => "propose_project",
        O::ApproveProject(_) => "approve_project",
        O::RejectProject(_) => "reject_project",
        O::IssueCredits(_) => "issue_credits",
        O::AuthoriseUnits(_) => "authorise_units",
        O::ExportUnits(_) => "export_units",
        O::Transfer(_) => "transfer",
        O::Trade(_) => "trade",
        O::Pledge(_) => "pledge",
        O::ReleasePledge(_) => "release_pledge",
        O::EnforcePledge(_) => "enforce_pledge",
        O::Freeze(_) => "freeze",
        O::Unfreeze(_) => "unfreeze",
        O::ReportEmissions(_) => "report_emissions",
        O::Surrender(_) => "surrender",
        O::CloseComplianceYear(_) => "close_compliance_year",
        O::Cancel(_) => "cancel",
        O::Repo(_) => "repo",
        O::Repurchase(_) => "repurchase",
        O::RepoDefault(_) => "repo_default",
        O::Lend(_) => "lend",
        O::ReturnLoan(_) => "return_loan",
        O::AllowPersonalAccounts(_) => "allow_personal_accounts",
        O::OpenPersonalAccounts(_) => "open_personal_accounts",
        O::ApproveMethodology(_) => "approve_methodology",
        O::RecordReductions(_) => "record_reductions",
        O::ConvertReductions(_) => "convert_reductions",
        O::TrustAccount(_) => "trust_account",
        O::UntrustAccount(_) => "untrust_account",
        O::SetTransferLimit(_) => "set_transfer_limit",
        O::CancelPendingTransfer(_) => "cancel_pending_transfer",
        O::ExecutePendingTransfer(_) => "execute_pending_transfer",
        O::TopUpPledge(_) => "top_up_pledge",
        O::SubstituteRepo(_) => "substitute_repo",
        O::RotateClusterAdminKey(_) => "rotate_cluster_admin_key",
    }
}
