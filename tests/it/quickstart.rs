//! The quickstart example's API, as `cargo run --example quickstart` serves it: every case of
//! REFERENCE.md §1–2 for both keywords on SQLite and PostgreSQL, and its OpenAPI document.

use crate::api;
use crate::common;

use chrono::{Duration, Utc};
use common::{Backend, ReferenceKeys, get, serve};
use serde_json::{Value, json};
use tokenauth::NewToken;

async fn quickstart_reference_cases(backend: Backend) {
    let store = common::store(backend).await;
    let demo = store.create_user("demo", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(demo.id, NewToken::default())
        .await
        .unwrap();
    let (_, expired) = store
        .tokens()
        .create(
            demo.id,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    let gone = store.create_user_with("gone", None, false).await.unwrap();
    let (_, inactive) = store
        .tokens()
        .create(gone.id, NewToken::default())
        .await
        .unwrap();
    let server = serve(api::app(store)).await;

    let expected = json!({ "id": demo.id, "username": "demo" });
    let keys = ReferenceKeys {
        valid: key.expose_secret(),
        inactive: inactive.expose_secret(),
        expired: expired.expose_secret(),
        expected: &expected,
    };
    common::reference_cases(server.addr, "/api/me", "Token", &keys).await;
    common::reference_cases(server.addr, "/api/bearer/me", "Bearer", &keys).await;

    // The open operation needs nothing and looks at nothing.
    for header in [None, Some(&b"Token nope"[..])] {
        let response = get(server.addr, "/api/ping", header).await;
        assert_eq!((response.status, response.body_text()), (200, "pong"));
    }
}

async fn spec() -> Value {
    let server = serve(api::app(common::sqlite_store().await)).await;
    let response = get(server.addr, "/openapi.json", None).await;
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test]
async fn spec_declares_one_scheme_per_keyword() {
    let spec = spec().await;
    let schemes = &spec["components"]["securitySchemes"];
    let token = &schemes["TokenAuth"];
    assert_eq!(token["type"], "apiKey");
    assert_eq!(token["in"], "header");
    assert_eq!(token["name"], "Authorization");
    assert!(
        token["description"]
            .as_str()
            .unwrap()
            .contains("`Token <key>`"),
        "{token}"
    );
    let bearer = &schemes["BearerAuth"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert!(
        bearer.get("in").is_none() && bearer.get("name").is_none(),
        "{bearer}"
    );
    assert_eq!(schemes.as_object().unwrap().len(), 2, "{schemes}");
}

#[tokio::test]
async fn secured_operations_list_one_requirement_and_document_the_401() {
    let spec = spec().await;
    let paths = &spec["paths"];
    for (path, scheme, keyword) in [
        ("/me", "TokenAuth", "Token"),
        ("/bearer/me", "BearerAuth", "Bearer"),
    ] {
        let operation = &paths[path]["get"];
        assert_eq!(operation["security"], json!([{ scheme: [] }]), "{path}");
        let unauthorized = &operation["responses"]["401"];
        assert_eq!(
            unauthorized["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
            "#/components/schemas/ErrorDetail",
            "{path}"
        );
        let header = &unauthorized["headers"]["WWW-Authenticate"];
        assert_eq!(header["required"], true);
        assert!(header["description"].as_str().unwrap().contains(keyword));
        assert_eq!(header["schema"]["example"], keyword);
        assert!(operation["responses"]["200"].is_object());
    }
    let error = &spec["components"]["schemas"]["ErrorDetail"];
    assert_eq!(error["required"], json!(["detail"]));
    assert_eq!(error["properties"]["detail"]["type"], "string");

    let orders = &paths["/orders"]["get"];
    assert_eq!(orders["security"], json!([{ "TokenAuth": [] }]));
    assert_eq!(orders["x-required-scopes"], json!(["orders:read"]));
    assert!(orders["responses"]["403"].is_object());

    let ping = &paths["/ping"]["get"];
    assert_eq!(ping["security"], json!([]), "{ping}");
    assert!(ping["responses"].get("401").is_none(), "{ping}");
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let server = serve(api::app(common::sqlite_store().await)).await;
    let response = get(server.addr, "/docs", None).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.body_text();
    assert!(page.contains("SwaggerUIBundle"));
    // The Authorize dialog adds `Token` to a bare key: the plugin, with the quickstart's one
    // apiKey scheme (BearerAuth is http `bearer`), right before the element Swagger UI fills.
    assert!(
        page.contains("})({\"TokenAuth\":\"Token\"});\n</script>\n<div id=\"ui\"></div>"),
        "{}",
        &page[page.find("<body>").unwrap_or(0)..][..2000.min(page.len())]
    );
}

common::on_both_backends!(quickstart_reference_cases,);
