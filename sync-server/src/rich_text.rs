//! A promotion's rich description: Markdown rendered by pulldown-cmark
//! into a safe subset of HTML (no IO here).
//!
//! What a merchant types is trusted for nothing. Raw HTML in the text,
//! block or inline, is shown as text (escaped), never passed through;
//! links keep only `http`, `https`, `mailto` and `tel` addresses (a
//! `javascript:` or `data:` link becomes its plain text); pictures in the
//! text show as their description only (the promotion's own picture is
//! uploaded and checked apart, see [`crate::media`]). Everything else
//! pulldown-cmark writes is escaped by it. So no script, style, frame or
//! event attribute can reach a page; the tests below try.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The longest description taken, in characters.
pub const MAX_CHARS: usize = 4000;

/// Renders `markdown` into safe HTML (see the module doc).
#[must_use]
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH);
    // Whether each open link was kept, innermost last.
    let mut links: Vec<bool> = Vec::new();
    let events = parser.filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let kept = safe_address(&dest_url);
            links.push(kept);
            kept.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => links
            .pop()
            .unwrap_or(false)
            .then_some(Event::End(TagEnd::Link)),
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Whether a link may point at `address`: web pages, mail, phone calls.
fn safe_address(address: &str) -> bool {
    let address = address.trim().to_ascii_lowercase();
    ["https://", "http://", "mailto:", "tel:"]
        .iter()
        .any(|scheme| address.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `html` could run a script or load anything: every tag is
    /// one of the plain ones without attributes, but links with a web,
    /// mail or phone address (and a title) and code blocks' language.
    fn is_inert(html: &str) -> bool {
        const PLAIN: [&str; 19] = [
            "p",
            "strong",
            "em",
            "ul",
            "ol",
            "li",
            "code",
            "pre",
            "blockquote",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr /",
            "br /",
            "del",
            "a",
        ];
        html.split('<').skip(1).all(|rest| {
            let Some((tag, _)) = rest.split_once('>') else {
                return false;
            };
            let tag = tag.strip_prefix('/').unwrap_or(tag);
            if PLAIN.contains(&tag) {
                return true;
            }
            if let Some(attrs) = tag.strip_prefix("a href=\"") {
                let Some((address, rest)) = attrs.split_once('"') else {
                    return false;
                };
                let titled = rest.is_empty()
                    || (rest.starts_with(" title=\"")
                        && rest.ends_with('"')
                        && rest.matches('"').count() == 2);
                return safe_address(address) && !address.contains(' ') && titled;
            }
            tag.strip_prefix("code class=\"language-")
                .is_some_and(|rest| rest.ends_with('"') && rest.matches('"').count() == 1)
        })
    }

    #[test]
    fn markdown_becomes_the_usual_html() {
        let html = render(
            "**Скидка** на *всё* молоко\n\n- 1 л\n- 2 л\n\n[Условия](https://example.com/terms?a=1&b=2)",
        );
        assert_eq!(
            html,
            "<p><strong>Скидка</strong> на <em>всё</em> молоко</p>\n<ul>\n<li>1 л</li>\n<li>2 л</li>\n</ul>\n\
             <p><a href=\"https://example.com/terms?a=1&amp;b=2\">Условия</a></p>\n"
        );
    }

    #[test]
    fn no_script_gets_through() {
        let attacks = [
            "<script>alert(1)</script>",
            "<div>\n<script>alert(1)</script>\n</div>",
            "text <img src=x onerror=alert(1)> more",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg onload=alert(1)>",
            "<style>body{display:none}</style>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click]( javascript:alert(1) )",
            "[click](jav&#x61;script:alert(1))",
            "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "[click](vbscript:msgbox)",
            "[ref][x]\n\n[x]: javascript:alert(1)",
            "<javascript:alert(1)>",
            "![x](https://evil.example/track.png)",
            "![x\" onerror=\"alert(1)](x)",
            "[a](https://ok.example \"t\\\" onclick=\\\"alert(1)\")",
            "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
            "`<script>alert(1)</script>`",
            "```\n<script>alert(1)</script>\n```",
            "[<script>x</script>](https://ok.example)",
        ];
        // The check itself catches what it must.
        for bad in [
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"https://a.example\" onclick=\"x\">x</a>",
            "<p onclick=\"x\">",
            "<script>",
        ] {
            assert!(!is_inert(bad), "{bad}");
        }
        for attack in attacks {
            let html = render(attack);
            assert!(is_inert(&html), "{attack:?} rendered as {html:?}");
        }
        // Raw HTML is shown as the text it is.
        assert_eq!(
            render("<script>alert(1)</script>"),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        );
        // An unsafe link keeps its words; a picture its description.
        assert_eq!(render("[click](javascript:alert(1))"), "<p>click</p>\n");
        assert_eq!(
            render("![a cat](https://x.example/c.png)"),
            "<p>a cat</p>\n"
        );
    }

    #[test]
    fn safe_links_are_kept() {
        for (text, href) in [
            ("[x](https://a.example)", "https://a.example"),
            ("[x](http://a.example)", "http://a.example"),
            ("[x](mailto:shop@a.example)", "mailto:shop@a.example"),
            ("[x](tel:+79160000001)", "tel:+79160000001"),
        ] {
            assert!(
                render(text).contains(&format!("<a href=\"{href}\">x</a>")),
                "{text}"
            );
        }
        assert!(!render("[x](/hq/merchants/1)").contains("<a"));
        assert!(!render("[x](//evil.example)").contains("<a"));
    }
}
