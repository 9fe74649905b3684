//! Swagger UI (feature `swagger-ui`): poem-openapi's page, showing the document as
//! [`spec`](super::spec) completes it, whose Authorize dialog takes a bare key for every
//! keyword.

use std::collections::BTreeMap;

use super::guard::api_key_schemes;
use super::spec::document;

/// poem-openapi's Swagger UI (`service.swagger_ui()`) showing the document as
/// [`spec`](super::spec) completes it (each scoped operation's `x-required-scopes`, open
/// operations, examples). Nest it where you serve the docs.
///
/// Its Authorize dialog takes the key alone for every scheme tokenauth documents: Swagger UI
/// sends an apiKey scheme's value as entered, so for each keyword but `Bearer` (an http
/// `bearer` scheme, to which Swagger UI adds `Bearer` itself) the page adds the keyword — `key`
/// is sent as `Authorization: Token key` — unless the value already starts with it
/// (`Token key`, in any ASCII case). Security schemes of the application's own are left as
/// they are. When the document has an OAuth2 or OpenID Connect scheme, poem-openapi's
/// `oauth-receiver.html`, where Swagger UI's login returns, is served beside the page.
///
/// ```
/// # use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
/// # struct Api;
/// # #[OpenApi]
/// # impl Api {
/// #     #[oai(path = "/ping", method = "get")]
/// #     async fn ping(&self) -> PlainText<&'static str> { PlainText("pong") }
/// # }
/// let service = OpenApiService::new(Api, "shop", "1.0");
/// let app = poem::Route::new().nest("/docs", tokenauth::openapi::swagger_ui(&service));
/// ```
pub fn swagger_ui<T, W>(
    service: &poem_openapi::OpenApiService<T, W>,
) -> impl poem::Endpoint + 'static
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    let spec = service.spec();
    let html = page(
        &service.swagger_ui_html(),
        &spec,
        &document::<T>(spec.clone()),
        &keywords::<T>(),
    );
    let route = poem::Route::new().at(
        "/",
        poem::endpoint::make_sync(move |_| poem::web::Html(html.clone())),
    );
    if redirects(&spec) {
        // The page Swagger UI's OAuth2 login returns to, from poem-openapi's Swagger UI
        // (which holds a page of its own: only served when a scheme needs it).
        route.at("/oauth-receiver.html", service.swagger_ui())
    } else {
        route
    }
}

/// Whether the document `spec` has a security scheme whose login in Swagger UI redirects
/// back to `oauth-receiver.html`: OAuth2 or OpenID Connect.
fn redirects(spec: &str) -> bool {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(spec) else {
        return false;
    };
    document["components"]["securitySchemes"]
        .as_object()
        .is_some_and(|schemes| {
            schemes
                .values()
                .any(|scheme| matches!(scheme["type"].as_str(), Some("oauth2" | "openIdConnect")))
        })
}

/// Where the plugin goes in poem-openapi's page: right before the element Swagger UI renders
/// into, after the bundle's `<script>` (which defines `SwaggerUIBundle`) and before the
/// script that calls it. Neither the bundle nor the document (embedded after it, as JSON,
/// whose strings escape `"`) holds it.
const ANCHOR: &str = r#"<div id="ui"></div>"#;

/// The plugin (see the file): a function expression taking the map of scheme names to
/// keywords.
const PLUGIN: &str = include_str!("swagger_ui.js");

/// The name → keyword map of the apiKey schemes tokenauth registers for `T`.
fn keywords<T: poem_openapi::OpenApi>() -> BTreeMap<&'static str, &'static str> {
    let mut keywords = BTreeMap::new();
    for (name, keyword) in api_key_schemes::<T>() {
        keywords.entry(name).or_insert(keyword);
    }
    keywords
}

/// poem-openapi's Swagger UI `html`, which embeds `spec`, with `document` in its place and
/// the plugin adding `keywords`. What cannot be done — poem-openapi's page has changed — is
/// left as poem-openapi made it, with a warning (the unit tests fail on such a page).
fn page(
    html: &str,
    spec: &str,
    document: &str,
    keywords: &BTreeMap<&'static str, &'static str>,
) -> String {
    let mut html = if html.contains(spec) {
        html.replacen(spec, document, 1)
    } else {
        tracing::warn!(
            "tokenauth: poem-openapi's Swagger UI page does not embed the document as it is; \
             it shows the document without tokenauth's additions"
        );
        html.to_owned()
    };
    if !keywords.is_empty() {
        match with_plugin(&html, keywords) {
            Some(with) => html = with,
            None => tracing::warn!(
                "tokenauth: poem-openapi's Swagger UI page has changed; its Authorize dialog \
                 does not add the keyword to a bare key"
            ),
        }
    }
    html
}

/// `html` with the plugin inserted before [`ANCHOR`], or `None` unless the anchor is there
/// exactly once.
fn with_plugin(html: &str, keywords: &BTreeMap<&'static str, &'static str>) -> Option<String> {
    if html.matches(ANCHOR).count() != 1 {
        return None;
    }
    let script = format!(
        "<script>\n{}({});\n</script>\n",
        PLUGIN.trim_end(),
        script_json(keywords)
    );
    Some(html.replacen(ANCHOR, &(script + ANCHOR), 1))
}

/// `value` as JSON that can stand in a `<script>` element: no `<` (so no `</script>` or
/// `<!--`), `>` or `&`, and no U+2028/U+2029, each written as its `\u` escape.
fn script_json(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    let mut escaped = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use poem_openapi::payload::PlainText;
    use poem_openapi::{OpenApi, OpenApiService};

    use super::*;
    use crate::keyword::{Keyword, Requirement, Scheme};
    use crate::openapi::ApiAuth;

    crate::keyword!(ApiKey = "Api-Key");

    /// A keyword whose written words would end a `<script>` element, were they not escaped.
    struct Hostile;
    impl Requirement for Hostile {
        const SCHEMES: &'static [Scheme] = &[Self::SCHEME];
    }
    impl Keyword for Hostile {
        const KEYWORD: &'static str = "</script><script>alert(1)</script>";
        const SCHEME_NAME: &'static str = "HostileAuth";
        const SCHEME_DESCRIPTION: &'static str = "Not a real keyword.";
    }

    struct Api;

    #[OpenApi]
    impl Api {
        /// Token or Bearer.
        #[oai(path = "/me", method = "get")]
        async fn me(
            &self,
            _auth: ApiAuth<
                crate::User,
                (crate::keyword::TokenKeyword, crate::keyword::BearerKeyword),
            >,
        ) -> PlainText<&'static str> {
            PlainText("me")
        }

        /// A custom keyword, twice.
        #[oai(path = "/custom", method = "get")]
        async fn custom(&self, _auth: ApiAuth<crate::User, ApiKey>) -> PlainText<&'static str> {
            PlainText("custom")
        }

        #[oai(path = "/custom/again", method = "get")]
        async fn custom_again(
            &self,
            _auth: ApiAuth<crate::User, ApiKey>,
        ) -> PlainText<&'static str> {
            PlainText("again")
        }

        #[oai(path = "/hostile", method = "get")]
        async fn hostile(&self, _auth: ApiAuth<crate::User, Hostile>) -> PlainText<&'static str> {
            PlainText("hostile")
        }
    }

    /// An API without security schemes.
    struct Open;

    #[OpenApi]
    impl Open {
        #[oai(path = "/ping", method = "get")]
        async fn ping(&self) -> PlainText<&'static str> {
            PlainText("pong")
        }
    }

    /// The application's own apiKey scheme.
    #[derive(poem_openapi::SecurityScheme)]
    #[oai(ty = "api_key", key_name = "X-API-Key", key_in = "header")]
    struct OwnKey(#[allow(dead_code)] poem_openapi::auth::ApiKey);

    /// The application's own scheme under the name tokenauth gives `Token`, registered first.
    #[derive(poem_openapi::SecurityScheme)]
    #[oai(
        rename = "TokenAuth",
        ty = "api_key",
        key_name = "Authorization",
        key_in = "header"
    )]
    struct OwnToken(#[allow(dead_code)] poem_openapi::auth::ApiKey);

    /// An API with schemes of the application's own beside tokenauth's.
    struct Mixed;

    #[OpenApi]
    impl Mixed {
        #[oai(path = "/own", method = "get")]
        async fn own(&self, _auth: OwnKey) -> PlainText<&'static str> {
            PlainText("own")
        }

        #[oai(path = "/own/token", method = "get")]
        async fn own_token(&self, _auth: OwnToken) -> PlainText<&'static str> {
            PlainText("own token")
        }

        #[oai(path = "/token", method = "get")]
        async fn token(
            &self,
            _auth: ApiAuth<crate::User, crate::keyword::TokenKeyword>,
        ) -> PlainText<&'static str> {
            PlainText("token")
        }

        #[oai(path = "/custom", method = "get")]
        async fn custom(&self, _auth: ApiAuth<crate::User, ApiKey>) -> PlainText<&'static str> {
            PlainText("custom")
        }
    }

    #[derive(poem_openapi::OAuthScopes)]
    #[allow(dead_code)] // only its metadata is used
    enum OAuthScopes {
        /// Read.
        #[oai(rename = "read")]
        Read,
    }

    /// The application's own OAuth2 scheme, whose login returns to `oauth-receiver.html`.
    #[derive(poem_openapi::SecurityScheme)]
    #[oai(
        ty = "oauth2",
        flows(implicit(
            authorization_url = "https://example.com/authorize",
            scopes = "OAuthScopes"
        ))
    )]
    struct OAuth(#[allow(dead_code)] poem_openapi::auth::Bearer);

    struct WithOAuth;

    #[OpenApi]
    impl WithOAuth {
        #[oai(path = "/oauth", method = "get")]
        async fn oauth(&self, _auth: OAuth) -> PlainText<&'static str> {
            PlainText("oauth")
        }
    }

    #[tokio::test]
    async fn the_oauth2_receiver_is_served_when_a_scheme_needs_it() {
        let with = poem::test::TestClient::new(swagger_ui(&OpenApiService::new(
            (WithOAuth, Api),
            "t",
            "1",
        )));
        let response = with.get("/oauth-receiver.html").send().await;
        response.assert_status_is_ok();
        let receiver = response.0.into_body().into_string().await.unwrap();
        assert!(
            receiver.contains("<title>Swagger UI: OAuth2 Redirect</title>"),
            "{receiver}"
        );
        let page = with.get("/").send().await;
        page.assert_status_is_ok();

        let without = poem::test::TestClient::new(swagger_ui(&OpenApiService::new(Api, "t", "1")));
        without
            .get("/oauth-receiver.html")
            .send()
            .await
            .assert_status(poem::http::StatusCode::NOT_FOUND);
        without.get("/").send().await.assert_status_is_ok();
    }

    #[test]
    fn the_map_holds_each_api_key_scheme_of_tokenauth_once() {
        assert_eq!(
            keywords::<Api>().into_iter().collect::<Vec<_>>(),
            [
                ("Api-KeyAuth", "Api-Key"),
                ("HostileAuth", "</script><script>alert(1)</script>"),
                ("TokenAuth", "Token"),
            ]
        );
        assert!(keywords::<Open>().is_empty());
    }

    #[test]
    fn the_map_leaves_the_applications_own_schemes_alone() {
        assert_eq!(
            keywords::<Mixed>().into_iter().collect::<Vec<_>>(),
            [("Api-KeyAuth", "Api-Key")]
        );
        // The document shows the application's `TokenAuth`, which gets no keyword.
        let spec: serde_json::Value =
            serde_json::from_str(&OpenApiService::new(Mixed, "t", "1").spec()).unwrap();
        let schemes = &spec["components"]["securitySchemes"];
        assert_eq!(
            schemes["TokenAuth"]["description"],
            "The application's own scheme under the name tokenauth gives `Token`, registered first.",
            "{schemes}"
        );
        assert_eq!(schemes["OwnKey"]["name"], "X-API-Key", "{schemes}");
    }

    #[test]
    fn the_map_is_escaped_for_a_script_element() {
        let json = script_json(&keywords::<Api>());
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        assert!(json.contains(r#""TokenAuth":"Token""#), "{json}");
        let back: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back["HostileAuth"], "</script><script>alert(1)</script>");
        assert_eq!(script_json(&"\u{2028}\u{2029}&"), r#""\u2028\u2029\u0026""#);
    }

    /// poem-openapi's page, as this version of it is: if an upgrade changes it so that the
    /// anchor or the embedded document is gone, this fails (the page would be served as
    /// poem-openapi made it).
    #[test]
    fn poem_openapi_page_has_the_anchor_once_and_embeds_the_document() {
        let service = OpenApiService::new(Api, "t", "1");
        let html = service.swagger_ui_html();
        assert_eq!(html.matches(ANCHOR).count(), 1);
        assert!(html.contains(&service.spec()));
        let anchor = html.find(ANCHOR).unwrap();
        assert!(
            html.find(&service.spec()).unwrap() > anchor,
            "the document comes after the anchor"
        );
        assert!(
            html[anchor..].contains("SwaggerUIBundle({"),
            "the page calls SwaggerUIBundle after the anchor"
        );
    }

    #[test]
    fn the_page_carries_the_plugin_and_the_document_with_scopes() {
        let service = OpenApiService::new(Api, "t", "1");
        let html = page(
            &service.swagger_ui_html(),
            &service.spec(),
            &document::<Api>(service.spec()),
            &keywords::<Api>(),
        );
        let anchor = html.find(ANCHOR).expect("the anchor");
        let plugin = html
            .find("<script>\n// tokenauth's Swagger UI plugin")
            .expect("the plugin");
        assert!(plugin < anchor);
        let call = &html[plugin..anchor];
        assert!(
            call.ends_with(&format!(
                "}})({});\n</script>\n",
                script_json(&keywords::<Api>())
            )),
            "{}",
            &call[call.len().saturating_sub(300)..]
        );
        // Neither the plugin nor the map can end the script element: the only `</` is its
        // own `</script>`.
        assert!(!PLUGIN.contains("</") && !PLUGIN.contains(ANCHOR));
        assert_eq!(call.matches("</").count(), 1);
        assert!(call.ends_with("</script>\n"));
        // The document is still embedded, after the anchor, as the page's `spec`.
        let start = html.find("let spec = ").expect("an embedded spec") + "let spec = ".len();
        assert!(start > anchor);
        let embedded: serde_json::Value = serde_json::Deserializer::from_str(&html[start..])
            .into_iter::<serde_json::Value>()
            .next()
            .expect("a JSON document")
            .expect("valid JSON");
        let spec: serde_json::Value = serde_json::from_str(&service.spec()).unwrap();
        assert_eq!(embedded, spec);
    }

    #[test]
    fn without_an_api_key_scheme_or_the_anchor_the_page_is_poem_openapis() {
        let service = OpenApiService::new(Open, "t", "1");
        let html = service.swagger_ui_html();
        let spec = service.spec();
        assert_eq!(page(&html, &spec, &spec, &keywords::<Open>()), html);
        let keywords = keywords::<Api>();
        assert_eq!(with_plugin("<html></html>", &keywords), None);
        let twice = format!("{ANCHOR}{ANCHOR}");
        assert_eq!(with_plugin(&twice, &keywords), None);
        assert_eq!(page(&twice, "{}", "{}", &keywords), twice);
    }
}
