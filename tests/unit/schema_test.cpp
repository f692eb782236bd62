// SPDX-License-Identifier: MIT
// The spec's JSON Schema is JSON, and names the validator's keys: every
// field where the validator allows it and nowhere else, every rlimit, every
// enum value the field's parser knows. Whether it accepts and rejects the
// same specs as `forkspawn check` is tests/schema/validate.py's to show.
#include "forkspawn/schema.hpp"

#include "forkspawn/execution.hpp"
#include "forkspawn/readiness.hpp"
#include "forkspawn/restart.hpp"
#include "spec/validator.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

using namespace forkspawn;
using Json = nlohmann::json;

namespace {

Json schema() {
    return Json::parse(spec::json_schema());
}

std::set<std::string> keys(const Json& object) {
    std::set<std::string> out;
    for (const auto& [key, value] : object.items())
        out.insert(key);
    return out;
}

template <std::size_t N> std::set<std::string> as_set(const std::array<const char*, N>& names) {
    return {names.begin(), names.end()};
}

// Every "$ref" anywhere in `node`.
void refs(const Json& node, std::set<std::string>& out) {
    if (node.is_object()) {
        for (const auto& [key, value] : node.items()) {
            if (key == "$ref") out.insert(value.get<std::string>());
            refs(value, out);
        }
    } else if (node.is_array()) {
        for (const auto& item : node)
            refs(item, out);
    }
}

} // namespace

TEST_CASE("schema: is one JSON object of draft 2020-12, ending in a newline") {
    const std::string_view text = spec::json_schema();
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    Json s;
    REQUIRE_NOTHROW(s = schema());
    REQUIRE(s.is_object());
    CHECK(s["$schema"] == "https://json-schema.org/draft/2020-12/schema");
    CHECK(s["type"] == "object");
    CHECK(s["additionalProperties"] == false);
    CHECK(s["required"] == Json::array({"actors"}));
}

TEST_CASE("schema: every $ref names a definition, every definition is used") {
    const Json s = schema();
    std::set<std::string> used;
    refs(s, used);
    for (const auto& ref : used) {
        INFO("$ref ", ref);
        REQUIRE(ref.starts_with("#/$defs/"));
        CHECK(s["$defs"].contains(ref.substr(8)));
    }
    for (const auto& [name, def] : s["$defs"].items()) {
        INFO("definition ", name);
        CHECK(used.count("#/$defs/" + name) == 1);
    }
}

TEST_CASE("schema: an actor's keys are the validator's, each where it is allowed") {
    const Json s = schema();
    const auto root = keys(s["properties"]);
    const auto command = keys(s["$defs"]["command"]["properties"]);
    const auto nursery = keys(s["$defs"]["nursery"]["properties"]);
    const auto all = as_set(spec::k_all_fields);
    const auto command_only = as_set(spec::k_command_only);
    const auto nursery_only = as_set(spec::k_nursery_only);

    std::set<std::string> every(command);
    every.insert(nursery.begin(), nursery.end());
    every.insert(root.begin(), root.end());
    CHECK(every == all);
    for (const auto& field : all) {
        INFO("field ", field);
        const bool on_command = field != "actors" && !nursery_only.count(field);
        const bool on_nursery = field != "cmd" && !command_only.count(field);
        // The root is a nursery without siblings or a parent to wait for it.
        const bool on_root =
            on_nursery && field != "daemon" && field != "after" && field != "ready";
        CHECK(command.count(field) == on_command);
        CHECK(nursery.count(field) == on_nursery);
        CHECK(root.count(field) == on_root);
    }
    for (const auto* def : {&s["$defs"]["command"], &s["$defs"]["nursery"]}) {
        CHECK((*def)["additionalProperties"] == false);
        CHECK((*def)["type"] == "object");
    }
    CHECK(s["$defs"]["command"]["required"] == Json::array({"name", "cmd"}));
    CHECK(s["$defs"]["nursery"]["required"] == Json::array({"name", "actors"}));
}

TEST_CASE("schema: every field has a title and a description") {
    const Json s = schema();
    for (const auto* props : {&s["properties"], &s["$defs"]["command"]["properties"],
                              &s["$defs"]["nursery"]["properties"]}) {
        for (const auto& [field, node] : props->items()) {
            INFO("field ", field);
            const Json& def = node.contains("$ref")
                                  ? s["$defs"][node["$ref"].get<std::string>().substr(8)]
                                  : node;
            CHECK((node.contains("title") || def.contains("title")));
            CHECK((node.contains("description") || def.contains("description")));
        }
    }
}

TEST_CASE("schema: rlimits are prlimit's names, enums are what the parsers know") {
    const Json s = schema();
    const Json& defs = s["$defs"];
    std::set<std::string> limits;
    for (const auto& r : spec::rlimit_names())
        limits.insert(r.name);
    CHECK(keys(defs["rlimits"]["properties"]) == limits);
    CHECK(defs["rlimits"]["additionalProperties"] == false);

    const auto each = [](const Json& values, auto parses) {
        CHECK(!values.empty());
        for (const auto& v : values) {
            INFO("value ", v);
            CHECK(parses(v.get<std::string>()));
        }
    };
    each(defs["strategy"]["enum"],
         [](const std::string& v) { return spec::parse_strategy(v).has_value(); });
    each(defs["restart"]["enum"],
         [](const std::string& v) { return parse_restart_policy(v).has_value(); });
    each(defs["kill"]["enum"],
         [](const std::string& v) { return spec::parse_kill_mode(v).has_value(); });
    each(defs["after"]["oneOf"][0]["additionalProperties"]["enum"],
         [](const std::string& v) { return parse_after_condition(v).has_value(); });
    CHECK(defs["strategy"]["enum"].size() == 3);
    CHECK(defs["restart"]["enum"].size() == 3);
    CHECK(defs["kill"]["enum"].size() == 3);
    CHECK(defs["after"]["oneOf"][0]["additionalProperties"]["enum"].size() == 4);
    CHECK(defs["ready"]["oneOf"].size() == 5);
    CHECK(defs["ready_probe"]["oneOf"].size() == 2);
}
