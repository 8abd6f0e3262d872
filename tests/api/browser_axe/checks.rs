//! What `browser_axe` checks on each page, in one browser: axe-core's
//! rules at each width, nothing wider than a phone's window, and the
//! tracking page's upload box; and how it reaches each page.

use std::path::{Path, PathBuf};

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::common;

/// The widths every page is checked at: a phone's, a desktop's.
const WIDTHS: [u32; 2] = [375, 1280];
const HEIGHT: u32 = 1200;

/// axe-core's script, as npm installed it.
pub fn axe_source() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/axe/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|_| common::not_run("axe-core from npm (npm ci in tests/axe)"))
}

/// What axe found on the page, one line per violation with its nodes.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v =>
  `${v.id} (${v.impact}): ${v.help}\n` + v.nodes.map(n =>
    `    ${JSON.stringify(n.target)} ${n.html.slice(0, 160)}\n      ${(n.failureSummary || '').replace(/\n/g, ' ')}`
  ).join('\n')
))).catch(e => done(['axe failed: ' + e]));
"#;

/// The elements wider than the window or past its right edge (outside
/// any box that scrolls or clips them), and the page's own scroll width.
const OVERFLOW: &str = r#"
const w = document.documentElement.clientWidth;
const clipped = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
  const o = getComputedStyle(p).overflowX; if (o !== 'visible') return true; } return false; };
const over = [...document.body.querySelectorAll('*')].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 1 && r.right > w + 0.5 && !clipped(e);
}).slice(0, 12).map(e => {
  const r = e.getBoundingClientRect();
  return `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''} left ${Math.round(r.left)} width ${Math.round(r.width)}`;
});
return {inner: window.innerWidth, client: w, scroll: document.documentElement.scrollWidth, over};
"#;

pub struct Checker {
    pub b: Browser,
    pub axe: String,
    pub shots: PathBuf,
    pub failures: Vec<String>,
    pub pages: usize,
}

impl Checker {
    /// The page now shown, at each width: axe's violations, and at the
    /// phone's width what sticks out.
    async fn check(&mut self, name: &str) {
        self.pages += 1;
        self.b.client.execute(&self.axe, vec![]).await.unwrap();
        for width in WIDTHS {
            self.resize(width).await;
            let found = self.b.client.execute_async(RUN_AXE, vec![]).await.unwrap();
            for v in found.as_array().expect("axe's violations") {
                self.failures
                    .push(format!("{name} at {width} px: {}", v.as_str().unwrap()));
            }
            if width < 600 {
                let o = self.b.client.execute(OVERFLOW, vec![]).await.unwrap();
                if o["scroll"].as_u64() > o["inner"].as_u64()
                    || !o["over"].as_array().unwrap().is_empty()
                {
                    self.failures.push(format!(
                        "{name} at {width} px: {} px wide in a window of {}: {}",
                        o["scroll"], o["inner"], o["over"]
                    ));
                }
            }
            let png = self.b.client.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("axe-{width}-{name}.png")), png).unwrap();
        }
    }

    /// Sets the window so that the page's viewport is `width` wide.
    async fn resize(&self, width: u32) {
        self.b.client.set_window_size(width, HEIGHT).await.unwrap();
        let inner = self
            .b
            .client
            .execute("return window.innerWidth", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap() as u32;
        if inner != width {
            self.b
                .client
                .set_window_size(2 * width - inner, HEIGHT)
                .await
                .unwrap();
        }
    }

    /// Goes through `step` and checks the page it leads to.
    pub async fn step(&mut self, step: Step) {
        match &step {
            Step::Visit(path, _) => self.b.goto(path).await,
            Step::Send(button, _) => {
                // The browser's own check of required fields set aside:
                // the server checks them, and its answer is the page.
                self.b
                    .client
                    .execute(
                        "document.querySelector(arguments[0]).form.noValidate = true",
                        vec![json!(button)],
                    )
                    .await
                    .unwrap();
                self.b.click(button).await;
                self.b.text_of(".error-summary, #login-error").await;
            }
            Step::Here(_) => {}
        }
        let name = match step {
            Step::Visit(_, name) | Step::Send(_, name) | Step::Here(name) => name,
        };
        self.b.text_of("h1").await;
        self.check(&name).await;
        self.upload_box_fits(&name).await;
    }

    /// Signs in to the console as `email` (out of the session before, if
    /// any) and goes through `steps`.
    pub async fn signed_in(&mut self, email: &str, steps: Vec<Step>) {
        self.b.goto("/console").await;
        let out = self.b.client.find_all(Locator::Css("form.logout button"));
        if let Some(button) = out.await.unwrap().pop() {
            button.click().await.unwrap();
            self.b.text_of("#f-password").await;
        }
        self.b.sign_in(email).await;
        for step in steps {
            self.step(step).await;
        }
    }

    /// At the phone's width, an upload box (the tracking page's) and its
    /// file fields fit in the window; its screenshot is taken.
    async fn upload_box_fits(&mut self, name: &str) {
        self.resize(WIDTHS[0]).await;
        let sizes = self
            .b
            .client
            .execute(
                r#"const box = document.querySelector('section.action');
                   const field = box && box.querySelector('input[type=file]');
                   if (!field) return null;
                   box.scrollIntoView();
                   const w = document.documentElement.clientWidth;
                   const b = box.getBoundingClientRect(), f = field.getBoundingClientRect();
                   return {w, box: [b.left, b.right], field: [f.left, f.right]};"#,
                vec![],
            )
            .await
            .unwrap();
        if sizes.is_null() {
            return;
        }
        let png = self.b.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("axe-375-{name}-upload.png")), png).unwrap();
        let at = |k: &str, i: usize| sizes[k][i].as_f64().unwrap();
        if at("box", 0) < 0.0
            || at("box", 1) > sizes["w"].as_f64().unwrap()
            || at("field", 1) > at("box", 1)
        {
            self.failures.push(format!(
                "{name}: the upload box does not fit at 375 px: {sizes}"
            ));
        }
    }
}

/// How the browser reaches a page to check, and the page's name.
pub enum Step {
    /// Its address.
    Visit(String, String),
    /// A click on this button of the page before: a form sent with errors.
    Send(&'static str, String),
    /// The page the browser is on, reached by the test's own clicks.
    Here(String),
}

pub fn visit(path: impl Into<String>, name: &str) -> Step {
    Step::Visit(path.into(), name.to_owned())
}

pub fn send(button: &'static str, name: &str) -> Step {
    Step::Send(button, name.to_owned())
}
