// Load a FreeIPA Web UI plugin under node with stand-ins for FreeIPA's AMD modules, run its
// registration and profile phases, and print what it registered as JSON (functions by name).
// Usage: node ui_harness.js <plugin.js>
'use strict';
var fs = require('fs');
var vm = require('vm');

var file = process.argv[2];
var recorded = { deps: null, entities: [], menu: [], phases: [] };

function named(name) {
    var f = function(spec) { return { factory: name, spec: spec }; };
    f.factory_name = name;
    return f;
}

var IPA = {
    config: { default_priority: 100 },
    details_facet: function(spec) {
        return { spec: spec, refresh: function() {}, on_update: { notify: function() {} },
                 nofify_update_success: function() {} };
    },
    section: named('IPA.section'),
    rule_details_widget: named('IPA.rule_details_widget'),
    enable_state_evaluator: named('IPA.enable_state_evaluator'),
    enabled_summary_cond: named('IPA.enabled_summary_cond'),
    disabled_summary_cond: named('IPA.disabled_summary_cond')
};
var modules = {
    'freeipa/ipa': IPA,
    'freeipa/menu': { add_item: function(item, parent) { recorded.menu.push({ item: item, parent: parent }); } },
    'freeipa/phases': { on: function(phase, handler, priority) {
        recorded.phases.push({ phase: phase, handler: handler, priority: priority }); } },
    'freeipa/reg': { entity: { register: function(x) { recorded.entities.push(x); } } }
};

var exported;
function define(deps, factory) {
    if (recorded.deps !== null) { throw new Error('define called twice'); }
    recorded.deps = deps;
    exported = factory.apply(null, deps.map(function(d) {
        if (!/^freeipa\//.test(d)) { throw new Error('dependency outside freeipa/: ' + d); }
        return modules[d] || {};
    }));
}
define.amd = true;

var sandbox = { define: define, console: console };
vm.runInNewContext(fs.readFileSync(file, 'utf8'), sandbox, { filename: file });
if (recorded.deps === null) { throw new Error('the module did not call define()'); }

['registration', 'profile'].forEach(function(phase) {
    recorded.phases.filter(function(p) { return p.phase === phase; })
        .forEach(function(p) { p.handler(); });
});

// A details facet made by the plugin's factory must still be FreeIPA's details facet.
var facet = recorded.entities[0].spec.facets[1];
var made = facet.$factory({ name: 'details' });
made.update_on_success();
made.update_on_error();

process.stdout.write(JSON.stringify({
    deps: recorded.deps,
    entities: recorded.entities,
    menu: recorded.menu,
    phases: recorded.phases.map(function(p) { return { phase: p.phase, priority: p.priority }; }),
    exported: Object.keys(exported || {}),
    attr: exported && exported.ATTR
}, function(key, value) {
    if (typeof value === 'function') { return value.factory_name || value.name || 'function'; }
    return value;
}, 1));
