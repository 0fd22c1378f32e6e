//! Bad input, one mistake at a time, in a copy of the example fleet: every mistake exits 2
//! without a panic, says where (`--> file:line:col`, or the argument for command-line
//! mistakes) and, where stamp knows one, what to write instead (`= hint:`).

use crate::support::{Fixture, Run};

const ACME: &str = "tenants/acme.toml";
const DEFAULTS: &str = "tenants/_defaults.toml";
const GLOBEX: &str = "tenants/globex.toml";
const UMBRELLA: &str = "tenants/umbrella.toml";

/// Runs `stamp validate` on a broken fleet: exit 2, no panic.
#[track_caller]
fn validate_fails(f: &Fixture) -> Run {
    let run = f.stamp(&["validate"]);
    run.no_panic().code(2);
    run
}

/// Asserts stderr reports a problem at `at` (`file:line:col`, or just `file`) whose message
/// contains `message`, followed by `= hint:` containing `hint` when one is given.
#[track_caller]
fn reported(run: &Run, at: &str, message: &str, hint: Option<&str>) {
    let arrow = format!("--> {at}");
    let pos = run
        .stderr
        .find(&arrow)
        .unwrap_or_else(|| panic!("stderr lacks {arrow:?}\n--- stderr\n{}", run.stderr));
    // The problem is the one whose `error:` line is the closest before the arrow.
    let start = run.stderr[..pos]
        .match_indices("error:")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || run.stderr.as_bytes()[i - 1] == b'\n')
        .last()
        .unwrap_or(0);
    let end = run.stderr[pos..]
        .find("\nerror:")
        .map_or(run.stderr.len(), |e| pos + e);
    let block = &run.stderr[start..end];
    assert!(
        block.contains(message),
        "the problem at {at} does not say {message:?}\n--- problem\n{block}\n--- stderr\n{}",
        run.stderr
    );
    if let Some(hint) = hint {
        let hint_line = block
            .lines()
            .find(|l| l.trim_start().starts_with("= hint:"))
            .unwrap_or_else(|| panic!("the problem at {at} has no hint\n--- problem\n{block}"));
        assert!(
            hint_line.contains(hint),
            "the hint at {at} does not say {hint:?}\n--- problem\n{block}"
        );
    }
}

/// `stamp validate --output json` on a broken fleet: exit 2, the documented shape, and the
/// diagnostics array.
#[track_caller]
fn validate_json(f: &Fixture) -> Vec<serde_json::Value> {
    let run = f.stamp(&["validate", "--output", "json"]);
    run.no_panic().code(2);
    let j = run.json();
    assert_eq!(j["ok"], false, "{j:#}");
    let diags = j["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics array: {j:#}"))
        .clone();
    assert!(!diags.is_empty(), "{j:#}");
    for d in &diags {
        let mut keys: Vec<&str> = d
            .as_object()
            .unwrap_or_else(|| panic!("a diagnostic is not an object: {d}"))
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["column", "file", "hint", "line", "message"], "{d}");
    }
    diags
}

/// Finds the one JSON diagnostic at `file:line` and returns it.
#[track_caller]
fn json_diag(diags: &[serde_json::Value], file: &str, line: u64) -> serde_json::Value {
    let hits: Vec<_> = diags
        .iter()
        .filter(|d| d["file"] == file && d["line"] == line)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "want one diagnostic at {file}:{line}: {diags:#?}"
    );
    hits[0].clone()
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, at every level, with "did you mean".

#[test]
fn unknown_top_level_key_suggests_the_closest() {
    let f = Fixture::example();
    f.replace(ACME, "[services.api]\n", "[servics.api]\n");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:18:2",
        "unknown key `servics` in the top level",
        Some("did you mean `services`?"),
    );
}

#[test]
fn unknown_top_level_key_without_a_close_match_lists_the_allowed_keys() {
    let f = Fixture::example();
    f.replace(ACME, "[tenant]\n", "owner = \"x\"\n[tenant]\n");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:4:1",
        "unknown key `owner`",
        Some("env_from, tenant, schedule, env, services"),
    );
}

#[test]
fn unknown_key_in_tenant_table() {
    let f = Fixture::example();
    f.replace(ACME, "ring       = \"canary\"", "rign       = \"canary\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:7:1",
        "unknown key `rign` in [tenant]",
        Some("did you mean `ring`?"),
    );
}

#[test]
fn unknown_key_in_project_table() {
    let f = Fixture::example();
    f.replace(DEFAULTS, "rings = [", "ringz = [");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:9:1",
        "unknown key `ringz` in [project]",
        Some("did you mean `rings`?"),
    );
}

#[test]
fn unknown_key_in_schedule_table() {
    let f = Fixture::example();
    f.replace(ACME, "windows = [", "window = [");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:10:1",
        "unknown key `window` in [schedule]",
        Some("did you mean `windows`?"),
    );
}

#[test]
fn unknown_key_in_service_table() {
    let f = Fixture::example();
    f.replace(ACME, "desired_count = 6", "desired_cont = 6");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:19:1",
        "unknown key `desired_cont` in [services.api]",
        Some("did you mean `desired_count`?"),
    );
}

#[test]
fn unknown_key_in_a_freeze() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "reason = \"year-end sale\"",
        "reasn = \"year-end sale\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:11:66",
        "unknown key `reasn` in a freeze",
        Some("did you mean `reason`?"),
    );
}

#[test]
fn unknown_key_in_a_value_form() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "{ ssm = \"/shop/acme/api_base\" }",
        "{ sssm = \"/shop/acme/api_base\" }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:15:18",
        "unknown key `sssm` in the value of `API_BASE`",
        Some("did you mean `ssm`?"),
    );
}

#[test]
fn unknown_key_in_env_from() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "env_from = { ssm_path = \"/shop/common/\" }",
        "env_from = { ssm_pth = \"/shop/common/\" }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:4:14",
        "unknown key `ssm_pth`",
        Some("did you mean `ssm_path`?"),
    );
}

// ---------------------------------------------------------------------------------------------
// Wrong types.

#[test]
fn boolean_env_value_must_be_quoted() {
    let f = Fixture::example();
    f.replace(ACME, "NEW_CHECKOUT = \"true\"", "NEW_CHECKOUT = true");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:16:16",
        "`NEW_CHECKOUT` is a boolean, but environment values are strings",
        Some("quote it: `NEW_CHECKOUT = \"true\"`"),
    );
}

#[test]
fn number_env_value_must_be_quoted() {
    let f = Fixture::example();
    f.replace(DEFAULTS, "PORT = \"8080\"", "PORT = 8080");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:39:8",
        "`PORT` is a number",
        Some("quote it: `PORT = \"8080\"`"),
    );
}

#[test]
fn number_where_a_region_string_is_needed() {
    let f = Fixture::example();
    f.replace(GLOBEX, "region     = \"us-east-1\"", "region     = 1");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/globex.toml:5:14",
        "`region` must be a string, found a number",
        Some("quote it"),
    );
}

#[test]
fn quoted_desired_count_must_be_a_number() {
    let f = Fixture::example();
    f.replace(ACME, "desired_count = 6", "desired_count = \"2\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:19:17",
        "`desired_count` must be a number, found a string",
        Some("drop the quotes: `desired_count = 2`"),
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed value forms.

#[test]
fn value_form_with_two_sources() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "{ ssm = \"/shop/acme/api_base\" }",
        "{ ssm = \"/shop/acme/api_base\", secret = \"/shop/acme/api_base\" }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:15:",
        "a value has exactly one source",
        Some("write one of"),
    );
}

#[test]
fn version_on_a_secret() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "{ secret = \"/shop/acme/database_url\" }",
        "{ secret = \"/shop/acme/database_url\", version = 2 }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:14:64",
        "`version` goes with `ssm`, not with `secret`",
        Some("remove `version`"),
    );
}

#[test]
fn unset_false_is_rejected() {
    let f = Fixture::example();
    f.replace(ACME, "{ unset = true }", "{ unset = false }");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:23:23",
        "`unset` only takes `true`",
        Some("`LEGACY = { unset = true }`, or delete the line"),
    );
}

#[test]
fn cfn_output_without_a_dot() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "NEW_CHECKOUT = \"true\"",
        "NEW_CHECKOUT = { cfn_output = \"network\" }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:16:31",
        "`cfn_output` must be `STACK.OutputKey`, found `network`",
        Some("cfn_output = \"network.PrivateSubnets\""),
    );
}

#[test]
fn relative_ssm_name() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "{ ssm = \"/shop/acme/api_base\" }",
        "{ ssm = \"shop/acme/api_base\" }",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:15:24",
        "`shop/acme/api_base` is not a valid SSM parameter name: it must start with `/`",
        Some("/shop/acme/api_base"),
    );
}

#[test]
fn empty_value_form_table() {
    let f = Fixture::example();
    f.replace(ACME, "NEW_CHECKOUT = \"true\"", "NEW_CHECKOUT = {}");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:16:16",
        "`NEW_CHECKOUT` names no value source",
        Some("`NEW_CHECKOUT = { unset = true }`"),
    );
}

#[test]
fn ssm_path_without_trailing_slash() {
    let f = Fixture::example();
    f.replace(
        GLOBEX,
        "ssm_path = \"/shop/globex/worker/\"",
        "ssm_path = \"/shop/globex/worker\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/globex.toml:19:",
        "`ssm_path` must start and end with `/`",
        Some("ssm_path = \"/shop/globex/worker/\""),
    );
}

// ---------------------------------------------------------------------------------------------
// Names ECS rejects.

#[test]
fn env_name_starting_with_a_digit() {
    let f = Fixture::example();
    f.replace(ACME, "NEW_CHECKOUT = \"true\"", "1X = \"true\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:16:1",
        "`1X` in [env] is not a valid environment variable name: it starts with a digit",
        Some("e.g. `_1X`"),
    );
}

#[test]
fn env_name_with_a_dash() {
    let f = Fixture::example();
    f.replace(ACME, "LOG_LEVEL = \"debug\"", "A-B = \"debug\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:22:1",
        "`A-B` in [services.api.env] is not a valid environment variable name",
        Some("e.g. `A_B`"),
    );
}

#[test]
fn invalid_service_name() {
    let f = Fixture::example();
    f.replace(UMBRELLA, "[services.api]", "[services.API]");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/umbrella.toml:15:11",
        "`API` is not a valid service name",
        Some("lowercase"),
    );
}

// ---------------------------------------------------------------------------------------------
// Accounts, roles and placeholders.

#[test]
fn tenant_without_account_id() {
    let f = Fixture::example();
    f.replace(ACME, "account_id = \"111111111111\"\n", "");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:1:1",
        "tenant `acme` has no `account_id`",
        Some("add `account_id = \"111111111111\"` under [tenant]"),
    );
}

#[test]
fn account_id_that_is_not_12_digits() {
    let f = Fixture::example();
    f.replace(ACME, "\"111111111111\"", "\"11111111111\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:5:14",
        "`account_id` must be 12 digits, found `11111111111`",
        Some("account_id = \"111111111111\""),
    );
}

#[test]
fn unquoted_account_id_is_one_problem() {
    let f = Fixture::example();
    f.replace(ACME, "\"111111111111\"", "111111111111");
    let diags = validate_json(&f);
    let d = json_diag(&diags, ACME, 5);
    assert_eq!(d["hint"], "quote it: `account_id = \"111111111111\"`");
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

#[test]
fn account_id_in_defaults() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "region       = \"ap-northeast-1\"",
        "account_id   = \"999999999999\"\nregion       = \"ap-northeast-1\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:12:16",
        "`account_id` does not belong in _defaults.toml",
        Some("move it to the tenant files"),
    );
    // Reported once, not once per tenant.
    assert_eq!(run.stderr.matches("does not belong").count(), 1);
}

#[test]
fn hard_coded_role_arn_in_another_account() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "ring       = \"canary\"",
        "ring       = \"canary\"\ndeploy_role = \"arn:aws:iam::222222222222:role/stamp-deploy\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:8:15",
        "`deploy_role` for tenant `acme` is in account 222222222222, but the tenant's account_id is 111111111111",
        Some("use `{account_id}` in the ARN"),
    );
}

#[test]
fn unknown_placeholder() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "role/stamp-readonly\"",
        "role/stamp-readonly-{acount_id}\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:15:16",
        "unknown placeholder `{acount_id}`",
        Some("did you mean `{account_id}`?"),
    );
}

#[test]
fn two_tenants_with_the_same_account() {
    let f = Fixture::example();
    f.replace(GLOBEX, "\"222222222222\"", "\"111111111111\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/globex.toml:4:14",
        "tenants `acme` and `globex` both use account 111111111111",
        Some("each tenant has its own account"),
    );
}

// ---------------------------------------------------------------------------------------------
// Files, project, rings, image.

#[test]
fn invalid_tenant_file_name() {
    let f = Fixture::example();
    let text = f.read(ACME);
    f.remove(ACME).write("tenants/Acme.toml", &text);
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/Acme.toml",
        "`Acme` is not a valid tenant name",
        Some("rename the file, e.g. to `acme.toml`"),
    );
}

#[test]
fn ring_not_in_project_rings() {
    let f = Fixture::example();
    f.replace(ACME, "\"canary\"", "\"canery\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:7:14",
        "ring `canery` is not in [project] rings",
        Some("did you mean `canary`?"),
    );
}

#[test]
fn project_table_in_a_tenant_file() {
    let f = Fixture::example();
    f.append(UMBRELLA, "[project]\nname = \"shop\"\n");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/umbrella.toml:21:2",
        "`[project]` belongs in tenants/_defaults.toml",
        Some("move this table to _defaults.toml"),
    );
}

#[test]
fn missing_defaults_file() {
    let f = Fixture::example();
    f.remove(DEFAULTS);
    let run = f.stamp(&["validate"]);
    run.no_panic()
        .code(2)
        .stderr_has(&["tenants/_defaults.toml", "= hint:"]);
}

#[test]
fn missing_project_table() {
    let f = Fixture::example();
    let text = f.read(DEFAULTS);
    let start = text.find("[project]").expect("[project]");
    let end = text.find("[tenant]").expect("[tenant]");
    f.write(DEFAULTS, &format!("{}{}", &text[..start], &text[end..]));
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:1:1",
        "tenants/_defaults.toml has no [project] table",
        Some("add `[project]` with `name`, `image` and `rings`"),
    );
}

#[test]
fn image_with_a_tag() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "amazonaws.com/shop\"",
        "amazonaws.com/shop:latest\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:8:9",
        "`image` must not carry a tag or digest",
        Some("the tag is the release"),
    );
}

#[test]
fn invalid_toml_syntax() {
    let f = Fixture::example();
    f.replace(ACME, "[services.api]\n", "[services.api\n");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:18:14",
        "this is not valid TOML",
        Some("https://toml.io"),
    );
}

// ---------------------------------------------------------------------------------------------
// Templates and rendered output.

#[test]
fn template_that_does_not_exist() {
    let f = Fixture::example();
    f.replace(DEFAULTS, "\"api.json.j2\"", "\"apii.json.j2\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:30:17",
        "template `apii.json.j2` not found in templates/",
        Some("did you mean `api.json.j2`?"),
    );
}

#[test]
fn template_syntax_error_names_the_template_line() {
    let f = Fixture::example();
    f.replace(
        "templates/api.json.j2",
        "{{ service.name }}-task",
        "{{ service.name -task",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "templates/api.json.j2:8:",
        "template error",
        Some("minijinja"),
    );
}

#[test]
fn undefined_template_variable_is_an_error() {
    let f = Fixture::example();
    f.replace(
        "templates/api.json.j2",
        "\"value\": \"{{ tenant.name }}\"",
        "\"value\": \"{{ tenant.nme }}\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "templates/api.json.j2:35:42",
        "undefined",
        Some("vars"),
    );
    // The source line is shown, so the user sees which name is wrong.
    run.stderr_has(&["{{ tenant.nme }}"]);
}

#[test]
fn unknown_task_definition_field_in_rendered_output() {
    let f = Fixture::example();
    f.replace(
        "templates/api.json.j2",
        "\"portMappings\"",
        "\"portMapping\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "templates/api.json.j2",
        "containerDefinitions[0].portMapping",
        Some("did you mean `portMappings`?"),
    );
    let diags = validate_json(&f);
    assert!(
        diags
            .iter()
            .all(|d| d["file"] == "templates/api.json.j2" && d["hint"].is_string()),
        "{diags:#?}"
    );
}

#[test]
fn more_than_ten_containers() {
    let f = Fixture::example();
    f.replace(
        "templates/worker.json.j2",
        "\"containerDefinitions\": [\n",
        "\"containerDefinitions\": [\n{% for i in range(10) %}    { \"name\": \"side{{ i }}\", \"image\": \"busybox\", \"essential\": false },\n{% endfor %}",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "templates/worker.json.j2",
        "11 container definitions; ECS requires 1 to 10",
        None,
    );
}

#[test]
fn duplicate_container_names() {
    let f = Fixture::example();
    f.replace(
        "templates/worker.json.j2",
        "\"containerDefinitions\": [\n",
        "\"containerDefinitions\": [\n    { \"name\": \"worker\", \"image\": \"busybox\", \"essential\": false },\n",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "templates/worker.json.j2",
        "container name \"worker\" is already used",
        None,
    );
}

#[test]
fn inject_into_a_missing_container() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "inject_into   = [\"app\"]",
        "inject_into   = [\"ap\"]",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:36:17",
        "`inject_into` names container `ap`",
        Some("the containers are: app, otel-collector"),
    );
}

// ---------------------------------------------------------------------------------------------
// Schedules.

#[test]
fn window_with_a_misspelt_day() {
    let f = Fixture::example();
    f.replace(ACME, "Tue,Thu 10:00-16:00", "Mon-Fry 10:00-18:00");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:10:12",
        "deploy window `Mon-Fry 10:00-18:00`: unknown day `Fry`",
        Some("did you mean `Fri`?"),
    );
}

#[test]
fn window_without_minutes() {
    let f = Fixture::example();
    f.replace(ACME, "Tue,Thu 10:00-16:00", "Mon 10-18");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:10:12",
        "deploy window `Mon 10-18`",
        Some("`Mon 10:00-18:00`"),
    );
}

#[test]
fn unknown_timezone() {
    let f = Fixture::example();
    f.replace(DEFAULTS, "\"Asia/Tokyo\"", "\"Asia/Tokio\"");
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:21:12",
        "timezone `Asia/Tokio`",
        Some("did you mean `Asia/Tokyo`?"),
    );
}

#[test]
fn freeze_that_ends_before_it_starts() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "to = \"2026-12-04T00:00\"",
        "to = \"2026-11-04T00:00\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:11:46",
        "which is not after its start",
        Some("swap them if they are the wrong way round"),
    );
}

#[test]
fn freeze_with_an_offset() {
    let f = Fixture::example();
    f.replace(
        ACME,
        "to = \"2026-12-04T00:00\"",
        "to = \"2026-12-04T00:00+09:00\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/acme.toml:11:46",
        "freeze time `2026-12-04T00:00+09:00`",
        Some("drop the offset: `2026-12-04T00:00`"),
    );
}

// ---------------------------------------------------------------------------------------------
// Command-line mistakes: the argument is named, with a suggestion.

#[test]
fn unknown_tenant_on_the_command_line() {
    let f = Fixture::example();
    f.stamp(&["render", "acmee", "--offline"])
        .no_panic()
        .code(2)
        .stderr_has(&["unknown tenant `acmee`", "= hint: did you mean `acme`?"]);
}

#[test]
fn unknown_tenant_in_schedule_and_explain() {
    let f = Fixture::example();
    for args in [
        &["schedule", "globx"][..],
        &["explain", "globx", "-s", "api", "--offline"][..],
    ] {
        f.stamp(args)
            .no_panic()
            .code(2)
            .stderr_has(&["unknown tenant `globx`", "= hint: did you mean `globex`?"]);
    }
}

#[test]
fn unknown_service_on_the_command_line() {
    let f = Fixture::example();
    f.stamp(&["render", "acme", "-s", "apx", "--offline"])
        .no_panic()
        .code(2)
        .stderr_has(&[
            "tenant `acme` has no service `apx`",
            "= hint: did you mean `api`?",
        ]);
}

#[test]
fn unknown_variable_in_explain() {
    let f = Fixture::example();
    f.stamp(&["explain", "acme", "-s", "api", "LOG_LEVLE", "--offline"])
        .no_panic()
        .code(2)
        .stderr_has(&["acme/api has no variable `LOG_LEVLE`", "= hint:"]);
}

#[test]
fn schedule_at_a_word_instead_of_an_instant() {
    let f = Fixture::example();
    f.stamp(&["schedule", "--at", "yesterday"])
        .no_panic()
        .code(2)
        .stderr_has(&[
            "--at `yesterday` is not an RFC 3339 instant",
            "= hint: write e.g. `--at 2026-12-02T03:00:00Z`",
        ]);
}

#[test]
fn release_on_the_command_line_must_be_an_image_tag() {
    let f = Fixture::example();
    // globex follows the fleet release, so --release is what it gets.
    let run = f.stamp(&[
        "render",
        "globex",
        "-s",
        "api",
        "--offline",
        "--release",
        "v1/2",
    ]);
    run.no_panic().code(2).stderr_has(&["--release", "v1/2"]);
    assert!(!run.stdout.contains("shop:v1/2"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// JSON output and many mistakes at once.

#[test]
fn validate_json_gives_file_line_column_message_hint() {
    let f = Fixture::example();
    f.replace(ACME, "ring       = \"canary\"", "rign       = \"canary\"");
    let diags = validate_json(&f);
    assert_eq!(
        diags,
        [serde_json::json!({
            "file": "tenants/acme.toml",
            "line": 7,
            "column": 1,
            "message": "unknown key `rign` in [tenant]",
            "hint": "did you mean `ring`?",
        })]
    );
}

#[test]
fn validate_json_for_a_cross_file_check() {
    let f = Fixture::example();
    f.replace(GLOBEX, "\"222222222222\"", "\"111111111111\"");
    let diags = validate_json(&f);
    let d = json_diag(&diags, GLOBEX, 4);
    assert_eq!(d["column"], 14);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("both use account 111111111111")),
        "{d}"
    );
    assert!(d["hint"].is_string(), "{d}");
}

#[test]
fn validate_json_for_a_problem_with_a_whole_file() {
    let f = Fixture::example();
    let text = f.read(ACME);
    f.remove(ACME).write("tenants/Acme.toml", &text);
    let diags = validate_json(&f);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["file"], "tenants/Acme.toml");
    assert!(diags[0]["line"].is_null(), "{:#}", diags[0]);
    assert_eq!(diags[0]["hint"], "rename the file, e.g. to `acme.toml`");
}

#[test]
fn validate_json_keeps_stdout_pure_json() {
    let f = Fixture::example();
    f.replace(ACME, "desired_count = 6", "desired_count = \"6\"");
    let run = f.stamp(&["validate", "--output", "json"]);
    run.no_panic().code(2);
    // The whole of stdout parses; nothing else is mixed in.
    let _ = run.json();
    assert!(!run.stdout.contains("error:"), "{}", run.stdout);
}

#[test]
fn several_mistakes_in_several_files_are_reported_together_and_sorted() {
    let f = Fixture::example();
    f.replace(UMBRELLA, "desired_count = 3", "desired_count = \"3\"") // :38 → line 16
        .replace(
            GLOBEX,
            "[services.worker]\n",
            "[services.worker]\ntemplat = \"x\"\n",
        ) // line 18
        .replace(DEFAULTS, "LOG_LEVEL = \"info\"", "LOG_LEVEL = 1") // line 25
        .replace(ACME, "NEW_CHECKOUT = \"true\"", "NEW-CHECKOUT = \"true\"") // line 16
        .replace(ACME, "ring       = \"canary\"", "rign       = \"canary\""); // line 7
    let diags = validate_json(&f);
    let at: Vec<(String, u64)> = diags
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        (DEFAULTS, 25),
        (ACME, 7),
        (ACME, 16),
        (GLOBEX, 18),
        (UMBRELLA, 16),
    ]
    .into_iter()
    .map(|(f, l)| (f.to_owned(), l))
    .collect();
    assert_eq!(at, want, "{diags:#?}");

    // The text form reports the same problems, in the same order, and counts them.
    let run = validate_fails(&f);
    let arrows: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .collect();
    assert_eq!(
        arrows,
        [
            "tenants/_defaults.toml:25:13",
            "tenants/acme.toml:7:1",
            "tenants/acme.toml:16:1",
            "tenants/globex.toml:18:1",
            "tenants/umbrella.toml:16:17",
        ],
        "{}",
        run.stderr
    );
    run.stderr_has(&["5 problems found"]);
}

#[test]
fn template_errors_are_reported_with_tenant_file_errors() {
    let f = Fixture::example();
    f.replace(ACME, "ring       = \"canary\"", "rign       = \"canary\"")
        .replace(
            "templates/api.json.j2",
            "{{ service.name }}-task",
            "{{ service.name -task",
        );
    let run = validate_fails(&f);
    reported(&run, "tenants/acme.toml:7:1", "unknown key `rign`", None);
    reported(&run, "templates/api.json.j2:8:", "template error", None);
}
