//! The directory of contact points (issue 17, item 3): a contact point takes its author's
//! organisation and side, its personal fields (phone, e-mail) do not cross the civil-military
//! line unless released and never reach a wall display, and bad input names the field.

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{reply, Backend, TestApp};

fn contact(props: Value) -> Value {
    let mut p = json!({
        "name": "Duty desk",
        "function": "duty_desk",
        "governorate": "IQG11",
        "phone": "+964 750 111 2222",
        "radio": "PAPA 1",
        "email": "desk@example.org",
        "duty_hours": "24/7",
        "confirmed_at": "2026-11-30T08:00:00Z",
    });
    for (k, v) in props.as_object().unwrap() {
        p[k] = v.clone();
    }
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.01, 36.19]}, "properties": p})
}

pub async fn contact_points_keep_personal_fields_on_their_side(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;

    let civil = app.create("contacts", &wfp, contact(json!({}))).await;
    let military = app
        .create(
            "contacts",
            &army,
            contact(json!({"name": "Army LO", "function": "liaison_officer"})),
        )
        .await;
    let released = app
        .create(
            "contacts",
            &army,
            contact(json!({"name": "Army ops", "releasable_to": ["NRC"]})),
        )
        .await;
    let (status, body) = app
        .post("/api/v1/contacts", &wall, contact(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let get = |token: String, id: String| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/api/v1/contacts/{id}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["properties"].clone()
        }
    };
    // The side is the author's.
    assert_eq!(get(wfp.clone(), civil.clone()).await["side"], "civil");
    assert_eq!(
        get(army.clone(), military.clone()).await["side"],
        "military"
    );
    let personal = |p: &Value| (p.get("phone").is_some(), p.get("email").is_some());
    for (who, token, id, expected) in [
        ("another civil organisation", &nrc, &civil, (true, true)),
        ("the military side", &army, &civil, (false, false)),
        ("the civil side", &nrc, &military, (false, false)),
        (
            "another military organisation",
            &police,
            &military,
            (true, true),
        ),
        (
            "the organisation it is released to",
            &nrc,
            &released,
            (true, true),
        ),
        ("a coordinator", &coord, &military, (true, true)),
        ("a wall display", &wall, &civil, (false, false)),
    ] {
        let p = get(token.clone(), id.clone()).await;
        assert_eq!(personal(&p), expected, "{who}: {p}");
        // What makes the contact point reachable across the line is always there.
        assert_eq!(p["radio"], "PAPA 1", "{who}: {p}");
        assert!(p["name"].is_string(), "{who}: {p}");
    }

    // Confirming is a patch; the side cannot be written.
    let (status, body) = app
        .patch(
            &format!("/api/v1/contacts/{civil}"),
            &wfp,
            json!({"properties": {"confirmed_at": "2026-12-01T08:00:00Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["side"], "civil");
    for (feature, field) in [
        (contact(json!({"side": "military"})), "properties.side"),
        (
            contact(json!({"phone": "call the desk"})),
            "properties.phone",
        ),
        (contact(json!({"email": "desk"})), "properties.email"),
        (contact(json!({"function": "chief"})), "properties.function"),
        (
            contact(json!({"governorate": "Erbil"})),
            "properties.governorate",
        ),
        (
            contact(json!({"confirmed_at": "2099-01-01T00:00:00Z"})),
            "properties.confirmed_at",
        ),
    ] {
        let r = reply(
            app.request(Method::POST, "/api/v1/contacts", Some(&wfp))
                .json(&feature),
        )
        .await;
        let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["field"], field, "{p}");
    }
    app.stop().await;
}

/// The `unconfirmed` alerts `token` is told of, by state, once `done` holds or after 10 s.
async fn reminders(
    app: &TestApp,
    token: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = app.get("/api/v1/alerts?state=recent", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let got: Vec<(String, String)> = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "unconfirmed")
            .map(|a| {
                (
                    a["movement"].as_str().unwrap_or("").to_string(),
                    a["state"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if done(&got) || tokio::time::Instant::now() > deadline {
            return got;
        }
        // The alerter judges the change after it is published: wait for its event.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn an_unconfirmed_contact_point_reminds_its_organisation(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let wfp_liaison = app.token(Role::CivilLiaison, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let wall = app.token(Role::WallDisplay, "WFP").await;
    let old = (chrono::Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    let stale = app
        .create("contacts", &wfp, contact(json!({"confirmed_at": old})))
        .await;
    let fresh = app.create("contacts", &wfp, contact(json!({}))).await;
    let _ = fresh;
    let raised = |got: &[(String, String)]| got.iter().any(|(id, s)| *id == stale && s == "raised");
    let got = reminders(&app, &wfp, raised).await;
    assert_eq!(
        got,
        [(stale.clone(), "raised".to_string())],
        "the owner is reminded once, of the stale one only"
    );
    assert!(
        raised(&reminders(&app, &wfp_liaison, raised).await),
        "its organisation's other roles too"
    );
    // Not the other organisations, not a coordinator of another one, not the room's wall.
    for (who, token) in [
        ("NRC", &nrc),
        ("a coordinator", &coord),
        ("a wall display", &wall),
    ] {
        // The owner was told, so the alert is in the log: one look is enough.
        let got = reminders(&app, token, |_| true).await;
        assert!(got.is_empty(), "{who} was told: {got:?}");
    }
    // Confirming it ends the reminder.
    let (status, body) = app
        .patch(
            &format!("/api/v1/contacts/{stale}"),
            &wfp,
            json!({"properties": {"confirmed_at": chrono::Utc::now().to_rfc3339()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ended = |got: &[(String, String)]| got.iter().any(|(id, s)| *id == stale && s == "ended");
    assert!(
        ended(&reminders(&app, &wfp, ended).await),
        "confirmed, the reminder ends"
    );
    app.stop().await;
}
