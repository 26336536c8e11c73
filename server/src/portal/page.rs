//! The page shell every portal page shares, its stylesheet, the error pages
//! and the headers every page carries.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use maud::{DOCTYPE, Markup, html};

/// The stylesheet, served from the binary.
const STYLESHEET: &str = include_str!("portal.css");

/// Where a page sits in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The caseload (and a patient's pages).
    Caseload,
    /// The alerts inbox.
    Alerts,
}

/// The signed-in therapist as the header shows them.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    /// Their name (or email).
    pub name: &'a str,
    /// Their session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
}

/// What the shell needs to know about a page.
pub struct Page<'a> {
    /// The title, before the product's name.
    pub title: &'a str,
    /// The signed-in therapist, for the header and the sign-out form.
    pub user: Option<User<'a>>,
    /// The navigation entry to mark as current.
    pub active: Option<Nav>,
}

/// The portal's Content-Security-Policy: its own stylesheet and nothing
/// else — no script at all, no other origin, no framing, forms only to
/// itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A whole page: the shell around `body`, with the portal's headers.
pub fn render(status: StatusCode, page: &Page<'_>, body: Markup) -> HttpResponse {
    let nav_item = |nav: Nav, href: &str, label: &str| {
        html! {
            li {
                @if page.active == Some(nav) {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) " · KAP journal portal" }
                link rel="stylesheet" href="/portal/portal.css";
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/portal" { "KAP journal" span.sub { " · therapist portal" } }
                    @if let Some(user) = page.user {
                        nav aria-label="Portal" {
                            ul {
                                (nav_item(Nav::Caseload, "/portal", "Caseload"))
                                (nav_item(Nav::Alerts, "/portal/alerts", "Alerts"))
                            }
                        }
                        form.sign-out method="post" action="/portal/sign-out" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            span.who { (user.name) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer.bottom {
                    p { "Only what each patient chose to share is shown; every view is logged and shown to the patient." }
                }
            }
        }
    };
    html_response(status, markup.into_string())
}

/// An HTML answer with the portal's headers: never cached (pages carry
/// patient data), never framed, no referrer, the strict policy above.
pub fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// A page that says what went wrong, with a way back.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNPROCESSABLE_ENTITY => "That cannot be saved",
        StatusCode::CONFLICT => "Already changed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        _ => "Something went wrong",
    };
    let body = html! {
        section.problem {
            h1 { (heading) }
            p role="alert" { (message) }
            p { a href="/portal" { "Back to your caseload" } }
        }
    };
    render(
        status,
        &Page {
            title: heading,
            user: None,
            active: None,
        },
        body,
    )
}

/// Any path under `/portal` that is not a page.
pub async fn not_found() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "There is no page at this address in the portal.",
    )
}

/// The stylesheet (cacheable: it holds no patient data).
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}
