//! Response templates: checked at load time so a broken template is a clear startup error, never a
//! raw `{{ }}` in front of a customer.
use std::collections::BTreeSet;

use minijinja::Environment;

use super::error::Problem;
use super::intent::Intent;

/// Compiles every template and follow-up of `intent` and checks that each variable it uses is declared.
pub fn check_templates(intent: &Intent) -> Vec<Problem> {
    let mut problems = Vec::new();
    let env = Environment::new();
    let declared: BTreeSet<&str> = intent.variables.keys().map(String::as_str).collect();
    let sources = intent
        .templates
        .iter()
        .flat_map(|(loc, list)| {
            list.iter()
                .enumerate()
                .map(move |(i, t)| (format!("templates.{loc}[{i}]"), t))
        })
        .chain(
            intent
                .follow_up
                .iter()
                .map(|(loc, t)| (format!("follow_up.{loc}"), t)),
        );
    for (place, source) in sources {
        match env.template_from_str(source) {
            Ok(tmpl) => {
                for var in tmpl.undeclared_variables(false) {
                    if !declared.contains(var.as_str()) {
                        problems.push(Problem::new(
                            &intent.source,
                            None,
                            format!(
                                "{place} uses variable {var:?}, which the intent does not declare under `variables`"
                            ),
                        ));
                    }
                }
            }
            Err(e) => problems.push(Problem::new(
                &intent.source,
                None,
                format!("{place} is not a valid template: {e}"),
            )),
        }
    }
    problems
}
