// Load a FreeIPA Web UI plugin under node with stand-ins for FreeIPA's AMD modules, run its registration
// and profile phases, build its entities' specs (their pre_ops) against the metadata and i18n messages of
// a context file, exercise the parts of the module that are logic rather than DOM (the exempt policy, the
// test page's options, rule rows and result fields), and print all of it as JSON (functions by name).
// Every text key the module uses, in its specs or at run time, is listed with whether it resolved.
// Usage: node ui_harness.js <plugin.js> <context.json>
//   context.json: { metadata: { objects: {...}, commands: {...} }, messages: {...}, sample_result: {...} }
'use strict';
var fs = require('fs');
var vm = require('vm');

var file = process.argv[2];
var context = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
var recorded = { deps: null, entities: [], menu: [], phases: [], rpc: [] };
var keys = {};  // text key -> resolved?

function named(name) {
    var f = function(spec) { return { factory: name, spec: spec }; };
    f.factory_name = name;
    return f;
}

function path_get(obj, path) {
    var parts = path.split('.');
    for (var i = 0; i < parts.length; i++) {
        if (obj === null || obj === undefined || typeof obj !== 'object') return undefined;
        obj = obj[parts[i]];
    }
    return obj;
}

// FreeIPA's metadata provider: @mo:, @mc:, @mo-param:, @mc-arg:, @mc-opt:
function metadata_get(key) {
    var m = /^@(mo|mc|mo-param|mc-arg|mc-opt):(.*)$/.exec(key);
    if (!m) return undefined;
    var meta = context.metadata;
    if (m[1] === 'mo') return path_get(meta.objects, m[2]);
    if (m[1] === 'mc') return path_get(meta.commands, m[2]);
    var parts = m[2].split(':');
    var list = m[1] === 'mo-param' ? path_get(meta.objects, parts[0] + '.takes_params') :
        path_get(meta.commands, parts[0] + (m[1] === 'mc-arg' ? '.takes_args' : '.takes_options'));
    var found = (list || []).filter(function(p) { return p.name === parts[1]; })[0];
    return found && parts[2] ? path_get(found, parts[2]) : found;
}

function resolve(key) {
    if (typeof key !== 'string' || key[0] !== '@') return key;
    var value = key.indexOf('@i18n:') === 0 ? path_get(context.messages, key.substring(6)) : metadata_get(key);
    keys[key] = keys[key] || value !== undefined;
    return value;
}

var text = {
    get: function(key, alternate) {
        var value = resolve(key);
        value = value || alternate;
        return typeof value === 'string' ? value : '';
    }
};
var metadata = { get: function(key) { return resolve(key); } };

var IPA = {
    config: { default_priority: 100 },
    details_facet: function(spec) {
        return { spec: spec, refresh: function() {}, on_update: { notify: function() {} },
                 nofify_update_success: function() {} };
    },
    facet_policy: function() { return {}; },
    section: named('IPA.section'),
    rule_details_widget: named('IPA.rule_details_widget'),
    enable_state_evaluator: named('IPA.enable_state_evaluator'),
    enabled_summary_cond: named('IPA.enabled_summary_cond'),
    disabled_summary_cond: named('IPA.disabled_summary_cond'),
    hbac: {
        test_facet: named('IPA.hbac.test_facet'),
        test_select_facet: named('IPA.hbac.test_select_facet'),
        test_rules_facet: named('IPA.hbac.test_rules_facet')
    }
};
var jquery = function() { throw new Error('no DOM in the harness'); };
jquery.isArray = Array.isArray;
jquery.extend = function(target) {
    for (var i = 1; i < arguments.length; i++) {
        for (var k in arguments[i]) { if (arguments[i].hasOwnProperty(k)) target[k] = arguments[i][k]; }
    }
    return target;
};
var modules = {
    'freeipa/ipa': IPA,
    'freeipa/jquery': jquery,
    'freeipa/metadata': metadata,
    'freeipa/text': text,
    'freeipa/rpc': { command: function(spec) { recorded.rpc.push(spec); return { execute: function() {} }; } },
    'freeipa/navigation': { show: function() {} },
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

// FreeIPA runs registration, loads the metadata, then profile; the metadata is there from the start here.
['registration', 'profile'].forEach(function(phase) {
    recorded.phases.filter(function(p) { return p.phase === phase; })
        .forEach(function(p) { p.handler(); });
});

// FreeIPA's builder runs an entity's pre_ops on its spec when it first builds the entity.
var specs = {};
recorded.entities.forEach(function(e) {
    var spec = JSON.parse(JSON.stringify(e.spec || {}));
    (e.pre_ops || []).forEach(function(op) { spec = op(spec, {}); });
    specs[e.type] = spec;
});

// Any '@i18n:'/'@mo…'/'@mc…' string in the specs is a key FreeIPA resolves when it builds the pages.
function scan(value) {
    if (typeof value === 'string') { if (value[0] === '@') resolve(value); }
    else if (Array.isArray(value)) { value.forEach(scan); }
    else if (value && typeof value === 'object') { Object.keys(value).forEach(function(k) { scan(value[k]); }); }
}
scan(specs);

// A details facet made by the plugin's factory must still be FreeIPA's details facet.
var details = specs.sessionrecording.facets.filter(function(f) { return f.$type === 'details'; })[0];
var made = details.$factory({ name: 'details' });
made.update_on_success();
made.update_on_error();

// The exempt policy on stand-ins of the details facet's fields and widgets.
function fake_container(spec) {
    var fields = spec.fields.map(function(f) {
        var field = { name: f.name, widget_name: f.widget, enabled: true, value: [], handlers: [] };
        field.on = function(event, handler) { if (event === 'value-change') field.handlers.push(handler); };
        field.get_value = function() { return field.value; };
        field.set_value = function(v) { field.value = v; field.handlers.forEach(function(h) { h(); }); };
        field.set_enabled = function(v) { field.enabled = v; };
        return field;
    });
    var widgets = {};
    function widget(path) {
        if (!widgets[path]) {
            widgets[path] = { path: path, visible: true, set_visible: function(v) { this.visible = v; } };
        }
        return widgets[path];
    }
    spec.widgets.forEach(function(w) { widget(w.name); });
    fields.forEach(function(f) { if (f.widget_name) widget(f.widget_name); });
    return {
        fields: {
            get_field: function(n) { return fields.filter(function(f) { return f.name === n; })[0]; },
            get_fields: function() { return fields; }
        },
        widgets: { get_widget: function(p) { return widgets[p]; } },
        snapshot: function() {
            return {
                disabled: fields.filter(function(f) { return !f.enabled; }).map(function(f) { return f.name; }),
                hidden: Object.keys(widgets).filter(function(p) { return !widgets[p].visible; })
            };
        }
    };
}
var policies = [];
(details.policies || []).forEach(function(factory) {
    var container = fake_container(details);
    var policy = factory({});
    policy.container = container;
    policy.init();
    var kind = container.fields.get_field(exported.ATTR.kind);
    var states = {};
    ['exempt', 'record', 'exempt'].forEach(function(value, i) {
        kind.set_value([value]);
        states[value + (i ? '_' + i : '')] = container.snapshot();
    });
    kind.value = ['record'];
    policy.post_load({});
    states.after_load = container.snapshot();
    policies.push(states);
});

// The test page's logic: options from its facets, rule rows and result fields of a result.
function fake_entity(values) {
    var facets = {};
    ['user', 'host', 'rules'].forEach(function(name) {
        facets[name] = {
            name: name,
            save: function(record) {
                if (name === 'rules') {
                    if (values.rules) record.rules = values.rules;
                    if (values.enabled) record.enabled = true;
                } else if (values[name]) {
                    record[name] = values[name];
                }
            },
            validate: function(record) { return !!record[name]; }
        };
    });
    return { get_facet: function(n) { return facets[n]; } };
}
function options_of(values) {
    var chosen = exported.test_options(fake_entity(values));
    return { options: chosen.options, missing: chosen.missing.map(function(f) { return f.name; }) };
}
var test_page = {
    only_user: options_of({ user: 'alice' }),
    all: options_of({ user: 'alice', host: 'web1.ipa.test', rules: ['r1', 'r2'], enabled: true }),
    records: exported.test_records(context.sample_result),
    fields: exported.test_fields(context.sample_result)
};

process.stdout.write(JSON.stringify({
    deps: recorded.deps,
    entities: recorded.entities.map(function(e) { return { type: e.type, spec: specs[e.type] }; }),
    menu: recorded.menu,
    phases: recorded.phases.map(function(p) { return { phase: p.phase, priority: p.priority }; }),
    exported: Object.keys(exported || {}),
    attr: exported && exported.ATTR,
    policies: policies,
    test_page: test_page,
    keys: keys
}, function(key, value) {
    if (typeof value === 'function') { return value.factory_name || value.name || 'function'; }
    return value;
}, 1));
