//! The REST suite, written once and run against each backend (`api.rs`: SQLite,
//! `api_postgres.rs`: PostgreSQL). Add a test here or in a file beside it, and list it in
//! `all_suite_tests!`.
//!
//! - `meta`: the route table, OpenAPI, health and metrics.
//! - `authz`: 401 and 403: tokens, revocation, who may create, mark and change what.
//! - `http_errors`: 404, 405, 413, 415 and malformed bodies, all as problem+json.
//! - `validation`: each class of invalid input is a 422 that names the field.
//! - `lifecycle`: merge patches, If-Match, retiring, notify/acknowledge, restarts.
//! - `areas`: the displacement and areas layers, administrative areas and daily figures.
//! - `imports`: ACLED imports, all or nothing, through the write gate; `imports_hxl`: HXL.
//! - `audit`: who received an item, by every channel; retention.
//! - `exports`: exports and OGC API – Features against the caller's picture, per role.
//! - `reports`: situation reports per audience, read back from their HTML, PDF and figures (SVG,
//!   PNG); `report_alerts`: the alerts that announce them (REST, WebSocket).
//! - `over_time`: the picture as it was (`?at=`) per role, and items' histories.
//! - `replay_ws`: the WebSocket replay per role against what live subscribers were sent, its
//!   pace, its controls and its errors.
//! - `meetings`: coordination meetings: the agenda drafted from a scripted history, action
//!   items carried over and raised as overdue, the gate, the minutes per participant.
//! - `meeting_alerts`: overdue action items on the alert channels (REST and WebSocket) per
//!   viewer, ended, withdrawn and kept over a restart; a meeting's contact points per caller.
//! - `needs`: the needs layer, the geometry of an area P-code, and the priorities view joined
//!   with access per caller.
//! - `contacts`: the directory's contact points, their side and their personal fields.
//! - `policy_matrix`: every role against every marking, organisation, release and precision,
//!   on every REST route, judged by an oracle written from the contract.

mod areas;
mod audit;
mod authz;
mod contacts;
mod exports;
mod http_errors;
mod imports;
mod imports_hxl;
mod lifecycle;
mod meeting_alerts;
mod meetings;
mod meta;
mod needs;
mod over_time;
mod policy_matrix;
mod replay_ws;
mod report_alerts;
mod reports;
mod validation;

pub use areas::*;
pub use audit::*;
pub use authz::*;
pub use contacts::*;
pub use exports::*;
pub use http_errors::*;
pub use imports::*;
pub use imports_hxl::*;
pub use lifecycle::*;
pub use meeting_alerts::*;
pub use meetings::*;
pub use meta::*;
pub use needs::*;
pub use over_time::*;
pub use policy_matrix::*;
pub use replay_ws::*;
pub use report_alerts::*;
pub use reports::*;
pub use validation::*;

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, Backend, TestApp};

/// Expands to one `#[tokio::test]` per suite test for a backend.
#[macro_export]
macro_rules! suite_tests {
    ($backend:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name($backend).await
            }
        )+
    };
}

/// The list every backend runs.
#[macro_export]
macro_rules! all_suite_tests {
    ($backend:expr) => {
        $crate::suite_tests!($backend;
            round_trip_per_layer,
            restart_keeps_acknowledged_writes,
            // over time (issue 15)
            replay_shows_each_role_the_picture_it_saw_then,
            history_lists_the_versions_the_caller_may_see,
            ws_replay_sends_each_role_what_it_was_sent_live,
            ws_replay_is_paced_by_event_times_and_speed,
            ws_replay_bad_requests_get_errors_and_keep_the_connection,
            // imports (issue 15)
            acled_import_creates_updates_and_leaves_unchanged_rows,
            acled_import_with_a_bad_row_writes_nothing,
            acled_import_passes_the_write_gate_row_by_row,
            import_bounds_and_bad_requests_are_clear_errors,
            hxl_import_creates_updates_and_leaves_unchanged_rows,
            hxl_import_with_bad_rows_writes_nothing,
            // audit (issue 15)
            audit_names_who_received_an_item_by_every_channel,
            audit_keeps_only_its_retention_period,
            // exports and OGC API (issue 16)
            every_export_holds_the_callers_picture,
            exports_filter_by_time_and_refuse_bad_parameters,
            the_cap_feed_carries_the_callers_alerts,
            ogc_api_serves_the_callers_layers_in_pages,
            // situation reports (issue 16)
            reports_count_what_each_audience_may_see,
            arabic_reports_extract_in_reading_order,
            report_requests_are_checked_and_never_wait,
            a_made_report_is_announced_to_its_audience_only,
            report_figures_are_files_of_their_own,
            // meta
            openapi_describes_exactly_the_routes,
            every_route_answers,
            metrics_count_requests_events_and_write_latency,
            // authz
            missing_or_bad_tokens_get_401,
            revoked_token_is_refused_within_the_cache_ttl,
            wall_display_cannot_write,
            roles_create_only_their_layers_and_markings,
            only_owner_org_or_coordinator_may_change_an_item,
            a_marking_a_coordinator_gave_does_not_lock_the_owner_out,
            // http_errors
            unknown_routes_layers_and_ids_are_404_and_wrong_methods_405,
            body_over_the_limit_is_413,
            bodies_that_are_not_json_are_400_or_415,
            // validation
            every_class_of_invalid_input_names_the_field,
            unknown_and_read_only_properties_are_named_on_create_and_patch,
            invalid_position_reports_name_the_field,
            // lifecycle
            patch_is_a_json_merge_patch,
            stale_if_match_is_412_and_writes_nothing,
            delete_retires_and_the_id_is_never_reused,
            notify_and_acknowledge_workflow,
            restart_keeps_every_kind_of_write,
            restart_from_a_snapshot_keeps_every_write,
            // policy_matrix
            policy_matrix_on_every_route,
            // areas
            admin_areas_are_listed_and_points_attributed,
            displacement_figures_follow_the_flows_and_the_policy,
            the_new_layers_are_written_by_their_roles_only,
            // meetings (issue 17.2)
            agenda_is_drafted_from_the_scripted_history,
            actions_live_carry_over_and_raise_overdue_alerts,
            overdue_actions_reach_the_alert_channels,
            meetings_list_each_organisations_contact_points,
            meeting_writes_pass_the_gate_and_bad_input_is_named,
            minutes_follow_the_policy_for_each_participant,
            // needs (issue 17)
            needs_take_their_area_and_are_written_by_their_roles,
            priorities_are_ordered_and_joined_with_access_per_caller,
            contact_points_keep_personal_fields_on_their_side,
            an_unconfirmed_contact_point_reminds_its_organisation,
        );
    };
}

/// The picture's sequence number as a coordinator sees it: how many events the log holds.
pub(crate) async fn log_seq(app: &mut TestApp) -> u64 {
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let (status, picture) = app.get("/api/v1/picture", &coord).await;
    assert_eq!(status, StatusCode::OK, "{picture}");
    picture["seq"].as_u64().expect("the picture has a seq")
}

pub async fn round_trip_per_layer(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    for (layer, token, feature) in [
        ("movements", &wfp, common::movement(json!({}))),
        ("constraints", &army, common::constraint(json!({}))),
        ("incidents", &army, common::incident(json!({}))),
        ("displacements", &nrc, common::displacement(json!({}))),
        ("areas", &army, common::area(json!({}))),
        ("needs", &nrc, common::need(json!({}))),
    ] {
        let id = app.create(layer, token, feature.clone()).await;
        let (status, got) = app.get(&format!("/api/v1/{layer}/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["geometry"], feature["geometry"]);
        assert_eq!(got["properties"]["version"], 1);
        assert_eq!(got["properties"]["layer"], layer);
        let (status, list) = app.get(&format!("/api/v1/{layer}"), token).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id.as_str()));
    }
    app.stop().await;
}

pub async fn restart_keeps_acknowledged_writes(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("convoy {i}")})),
            )
            .await,
        );
    }
    let (_, before) = app.get("/api/v1/picture", &wfp).await;
    let app = app.restart().await;
    let (status, after) = app.get("/api/v1/picture", &wfp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before, after, "the picture survives a restart unchanged");
    assert_eq!(after["seq"], 20);
    app.stop().await;
}
