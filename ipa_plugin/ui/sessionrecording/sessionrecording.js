/*
 * Session recording in FreeIPA's Web UI, under Policy → Session Recording:
 *
 * - Session Recording Rules: a search facet (status, batch enable/disable), an Add dialog, and a
 *   details facet with every recording option and HBAC-style user and host membership tables. The
 *   options an exempt rule ignores are disabled and hidden while the rule's kind is "exempt".
 * - Session Recording Test: FreeIPA's HBAC Test pages for this plugin's `sessionrecording-test`: pick a
 *   user, a host and optionally rules, run the test, see the deciding rules and the effective options.
 *
 * Every text comes from the server, so FreeIPA translates it: field and column labels from the params'
 * labels (the metadata), other texts from the plugin's entries in FreeIPA's i18n_messages
 * ('@i18n:objects.sessionrecording.*'), FreeIPA's own texts where FreeIPA has them. The choices of the
 * kind and limit action, and the params an exempt rule ignores, come from the metadata too.
 *
 * Installed as /usr/share/ipa/ui/js/plugins/sessionrecording/sessionrecording.js; FreeIPA's plugin
 * loader requires it as 'sessionrecording/sessionrecording', so core modules are named 'freeipa/...'.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
define([
    'freeipa/ipa',
    'freeipa/jquery',
    'freeipa/menu',
    'freeipa/metadata',
    'freeipa/navigation',
    'freeipa/phases',
    'freeipa/reg',
    'freeipa/rpc',
    'freeipa/text',
    'freeipa/details',
    'freeipa/rule',
    'freeipa/search',
    'freeipa/association',
    'freeipa/entity',
    'freeipa/hbactest'
], function(IPA, $, menu, metadata_provider, navigation, phases, reg, rpc, text) {
    'use strict';

    var ENTITY = 'sessionrecording';
    var TEST_ENTITY = 'sessionrecordingtest';
    var TEST_COMMAND = 'sessionrecording_test';
    var EXEMPT = 'exempt';

    // Param names are the rule's LDAP attribute names, lower-cased (ipa_plugin/policy/layout.py).
    var ATTR = {
        enabled: 'ipaenabledflag',
        kind: 'ipasessionrecordingkind',
        priority: 'ipasessionrecordingpriority',
        log_input: 'ipasessionrecordingloginput',
        log_output: 'ipasessionrecordinglogoutput',
        log_window: 'ipasessionrecordinglogwindow',
        notice: 'ipasessionrecordingnotice',
        latency: 'ipasessionrecordinglatency',
        payload: 'ipasessionrecordingpayload',
        rate: 'ipasessionrecordingratelimit',
        burst: 'ipasessionrecordingburst',
        limit_action: 'ipasessionrecordinglimitaction',
        audit_commands: 'ipasessionrecordingauditcommands',
        watch_path: 'ipasessionrecordingwatchpath',
        transfers: 'ipasessionrecordingtransfers'
    };

    // The rule lists of sessionrecording-test's result, in the order the result table shows them.
    var OUTCOMES = ['deciding', 'overridden', 'notmatched'];

    var exp = IPA.sessionrecording = {
        ENTITY: ENTITY,
        TEST_ENTITY: TEST_ENTITY,
        TEST_COMMAND: TEST_COMMAND,
        ATTR: ATTR,
        OUTCOMES: OUTCOMES
    };

    /** A text of this plugin: '@i18n:objects.sessionrecording.<key>' (or of the test page). */
    var msg = exp.msg = function(key, entity) {
        return '@i18n:objects.' + (entity || ENTITY) + '.' + key;
    };

    // Member removals run before other updates, as in FreeIPA's own rule pages.
    var remove_priority = IPA.config.default_priority - 1;

    /** The choices of a choice param, from its metadata, labelled by the plugin's texts. */
    exp.choice_options = function(attr, with_default) {
        var values = metadata_provider.get('@mo-param:' + ENTITY + ':' + attr + ':values') || [];
        var out = with_default ? [{ value: '', label: text.get(msg('default')) }] : [];
        for (var i = 0; i < values.length; i++) {
            out.push({ value: values[i], label: text.get(msg('choices.' + attr + '.' + values[i]), values[i]) });
        }
        return out;
    };

    /** The params an exempt rule ignores (the option table's applies_to_exempt), from the metadata. */
    exp.record_only_params = function() {
        return metadata_provider.get('@mo:' + ENTITY + '.record_only_params') || [];
    };

    /** A details facet that re-reads the rule after saving (membership and options change together). */
    exp.details_facet = function(spec) {
        var that = IPA.details_facet(spec);
        that.update_on_success = function() {
            that.refresh();
            that.on_update.notify();
            that.nofify_update_success();
        };
        that.update_on_error = function() {
            that.refresh();
        };
        return that;
    };

    /**
     * While the rule's kind is exempt, the options it ignores are disabled (so they are neither saved
     * nor count as changes) and hidden, and so is a section that holds nothing else.
     */
    exp.exempt_policy = function(spec) {
        var that = IPA.facet_policy(spec);

        that.init = function() {
            that.container.fields.get_field(ATTR.kind).on('value-change', that.apply);
        };

        that.post_load = function() {
            that.apply();
        };

        that.apply = function() {
            var fields = that.container.fields;
            var widgets = that.container.widgets;
            var exempt = (fields.get_field(ATTR.kind).get_value() || [])[0] === EXEMPT;
            var record_only = exp.record_only_params();
            var sections = {};
            var all = fields.get_fields();
            for (var i = 0; i < all.length; i++) {
                var section = (all[i].widget_name || '').split('.')[0];
                var only = record_only.indexOf(all[i].name) >= 0;
                sections[section] = (sections[section] === undefined || sections[section]) && only;
                if (!only) continue;
                all[i].set_enabled(!exempt);
                var widget = widgets.get_widget(all[i].widget_name);
                if (widget) widget.set_visible(!exempt);
            }
            for (var name in sections) {
                if (sections.hasOwnProperty(name) && sections[name]) {
                    var section_widget = widgets.get_widget(name);
                    if (section_widget) section_widget.set_visible(!exempt);
                }
            }
        };

        return that;
    };

    var section_fields = function(section, fields) {
        var out = [];
        for (var i = 0; i < fields.length; i++) {
            var field = fields[i];
            if (typeof field === 'string') {
                field = { name: field };
            }
            field.widget = section + '.' + field.name;
            out.push(field);
        }
        return out;
    };

    var section_widgets = function(fields) {
        var out = [];
        for (var i = 0; i < fields.length; i++) {
            var widget = { name: fields[i].name };
            for (var key in fields[i]) {
                if (key !== 'widget' && key !== 'name' && fields[i].hasOwnProperty(key)) {
                    widget[key] = fields[i][key];
                }
            }
            out.push(widget);
        }
        return out;
    };

    var membership = function(spec, section, attr, category, tables, anyone, specified) {
        var rule_widgets = [];
        for (var i = 0; i < tables.length; i++) {
            var name = attr + '_' + tables[i].type;
            spec.fields.push({
                $type: 'rule_association_table',
                name: name,
                widget: section + '.rule.' + name,
                priority: remove_priority
            });
            rule_widgets.push({
                $type: 'rule_association_table',
                id: ENTITY + '-' + name,
                name: name,
                add_method: tables[i].add_method,
                remove_method: tables[i].remove_method,
                add_title: msg('add_' + tables[i].type + 's'),
                remove_title: msg('remove_' + tables[i].type + 's')
            });
        }
        spec.fields.push({
            $type: 'radio',
            name: category,
            widget: section + '.rule.' + category
        });
        spec.widgets.push({
            $factory: IPA.section,
            name: section,
            label: msg(section),
            widgets: [
                {
                    $factory: IPA.rule_details_widget,
                    name: 'rule',
                    radio_name: category,
                    options: [
                        { value: 'all', label: anyone },
                        { value: '', label: specified }
                    ],
                    tables: tables.map(function(t) { return { name: attr + '_' + t.type }; }),
                    widgets: rule_widgets
                }
            ]
        });
    };

    exp.make_details_spec = function() {
        var general = section_fields('general', [
            { name: 'cn', read_only: true },
            { $type: 'textarea', name: 'description' },
            { $type: 'radio', name: ATTR.kind, options: exp.choice_options(ATTR.kind) },
            ATTR.priority
        ]);
        var recording = section_fields('recording', [
            { $type: 'checkbox', name: ATTR.log_input },
            { $type: 'checkbox', name: ATTR.log_output },
            { $type: 'checkbox', name: ATTR.log_window },
            { $type: 'textarea', name: ATTR.notice },
            { $type: 'checkbox', name: ATTR.audit_commands },
            { $type: 'multivalued', name: ATTR.watch_path },
            { $type: 'select', name: ATTR.transfers, options: exp.choice_options(ATTR.transfers, true) }
        ]);
        var limits = section_fields('limits', [
            ATTR.latency,
            ATTR.payload,
            ATTR.rate,
            ATTR.burst,
            { $type: 'select', name: ATTR.limit_action, options: exp.choice_options(ATTR.limit_action, true) }
        ]);

        var spec = {
            $type: 'details',
            $factory: exp.details_facet,
            command_mode: 'info',
            actions: ['select', 'enable', 'disable', 'delete'],
            header_actions: ['enable', 'disable', 'delete'],
            state: {
                evaluators: [
                    { $factory: IPA.enable_state_evaluator, field: ATTR.enabled }
                ],
                summary_conditions: [IPA.enabled_summary_cond, IPA.disabled_summary_cond]
            },
            policies: [exp.exempt_policy],
            fields: general.concat(recording, limits),
            widgets: [
                {
                    $type: 'details_section',
                    name: 'general',
                    label: '@i18n:details.general',
                    widgets: section_widgets(general)
                },
                {
                    $type: 'details_section',
                    name: 'recording',
                    label: msg('recording'),
                    widgets: section_widgets(recording)
                },
                {
                    $type: 'details_section',
                    name: 'limits',
                    label: msg('limits'),
                    widgets: section_widgets(limits)
                }
            ]
        };

        membership(spec, 'user', 'memberuser', 'usercategory', [
            { type: 'user', add_method: 'add_user', remove_method: 'remove_user' },
            { type: 'group', add_method: 'add_user', remove_method: 'remove_user' }
        ], '@i18n:objects.hbacrule.anyone', '@i18n:objects.hbacrule.specified_users');
        membership(spec, 'host', 'memberhost', 'hostcategory', [
            { type: 'host', add_method: 'add_host', remove_method: 'remove_host' },
            { type: 'hostgroup', add_method: 'add_host', remove_method: 'remove_host' }
        ], '@i18n:objects.hbacrule.any_host', '@i18n:objects.hbacrule.specified_hosts');
        return spec;
    };

    /** The rules entity; built when FreeIPA first needs it, after the metadata has loaded. */
    exp.make_spec = function() {
        return {
            name: ENTITY,
            facets: [
                {
                    $type: 'search',
                    row_enabled_attribute: ATTR.enabled,
                    columns: [
                        'cn',
                        { name: ATTR.enabled, label: '@i18n:status.label', formatter: 'boolean_status' },
                        ATTR.kind,
                        ATTR.priority,
                        'description'
                    ],
                    actions: ['batch_disable', 'batch_enable'],
                    control_buttons: [
                        { name: 'disable', label: '@i18n:buttons.disable', icon: 'fa-minus' },
                        { name: 'enable', label: '@i18n:buttons.enable', icon: 'fa-check' }
                    ]
                },
                exp.make_details_spec()
            ],
            adder_dialog: {
                title: msg('add'),
                fields: [
                    'cn',
                    {
                        $type: 'radio',
                        name: ATTR.kind,
                        options: exp.choice_options(ATTR.kind),
                        default_value: metadata_provider.get('@mo-param:' + ENTITY + ':' + ATTR.kind + ':default')
                    },
                    ATTR.priority,
                    { $type: 'textarea', name: 'description' }
                ]
            },
            deleter_dialog: {
                title: msg('remove')
            }
        };
    };

    // -- Session Recording Test: FreeIPA's HBAC Test pages, run with sessionrecording-test --------------

    /**
     * The options of sessionrecording-test from the pages: `user` and `host` (required), `rules`,
     * `enabled`, `disabled` (as the HBAC Test pages save them), and the page facets still missing a value.
     */
    exp.test_options = function(entity) {
        var options = {};
        var missing = [];
        var required = ['user', 'host'];
        for (var i = 0; i < required.length; i++) {
            var facet = entity.get_facet(required[i]);
            facet.save(options);
            if (!facet.validate(options)) missing.push(facet);
        }
        entity.get_facet('rules').save(options);
        return { options: options, missing: missing };
    };

    /** The rows of the result's rule table: each rule with its outcome, deciding rules first. */
    exp.test_records = function(result) {
        var rows = [];
        for (var i = 0; i < OUTCOMES.length; i++) {
            var names = (result && result[OUTCOMES[i]]) || [];
            for (var j = 0; j < names.length; j++) {
                rows.push({ name: names[j], outcome: text.get(msg(OUTCOMES[i], TEST_ENTITY)) });
            }
        }
        return rows;
    };

    /** The result's fields as label and text, in the order of the result object's params. */
    exp.test_fields = function(result) {
        var params = metadata_provider.get('@mo:' + TEST_ENTITY + '.takes_params') || [];
        var rows = [];
        for (var i = 0; i < params.length; i++) {
            var value = result ? result[params[i].name] : undefined;
            if (value === undefined || value === null) continue;
            if (typeof value === 'boolean') value = text.get(value ? '@i18n:true' : '@i18n:false');
            if ($.isArray(value)) value = value.join(', ');
            rows.push({ name: params[i].name, label: text.get(params[i].label) || params[i].name, value: '' + value });
        }
        return rows;
    };

    /** The page facets that still need a value, each a link to its page. */
    exp.validation_dialog = function(missing) {
        var dialog = IPA.message_dialog({
            title: '@i18n:dialogs.validation_title',
            message: '@i18n:dialogs.validation_message'
        });
        dialog.create_content = function() {
            dialog.message_dialog_create_content();
            $('<div/>', { text: text.get('@i18n:objects.hbactest.missing_values') }).appendTo(dialog.container);
            var ul = $('<ul/>').appendTo(dialog.container);
            missing.forEach(function(facet) {
                $('<li/>').append($('<a/>', {
                    href: '#' + facet.name,
                    text: text.get('@mc-opt:' + TEST_COMMAND + ':' + facet.name + ':label'),
                    click: function() {
                        dialog.close();
                        navigation.show(facet);
                        return false;
                    }
                })).appendTo(ul);
            });
        };
        return dialog;
    };

    /** The last page: run the test, show the outcome, the rules with their outcome and the result. */
    exp.test_run_facet = function(spec) {
        spec = spec || {};
        spec.sort_enabled = false;  // deciding rules first, as the result lists them
        var that = IPA.hbac.test_facet(spec);
        that.table.selectable = false;

        that.create_content = function(container) {
            var header = $('<div/>', { 'class': 'hbac-test-header' }).appendTo(container);
            var top_panel = $('<div/>', { 'class': 'hbac-test-top-panel row' }).appendTo(header);
            var button_panel = $('<div/>', { 'class': 'hbac-test-button-panel col-sm-2' }).appendTo(top_panel);
            that.run_button = IPA.button({
                name: 'run_test',
                label: '@i18n:objects.hbactest.run_test',
                icon: 'fa-gear',
                click: that.run
            }).appendTo(button_panel);
            var result_panel = $('<div/>', { 'class': 'hbac-test-result-panel col-sm-10' }).appendTo(top_panel);
            that.test_result = $('<p/>', { 'class': 'hbac-test-title', name: 'test_result' }).appendTo(result_panel);
            $('<span/>', { text: text.get(msg('rules', TEST_ENTITY)), 'class': 'hbac-test-title' }).appendTo(header);

            var content = $('<div/>', { 'class': 'hbac-test-content' }).appendTo(container);
            that.table.create(content);
            $('<h2/>', { text: text.get(msg('result', TEST_ENTITY)) }).appendTo(content);
            that.fields_table = $('<table/>', {
                'class': 'table table-condensed sessionrecording-test-result',
                name: 'test_fields'
            }).appendTo(content);

            var footer = $('<div/>', { 'class': 'hbac-test-footer' }).appendTo(container);
            var buttons = $('<div/>', { 'class': 'hbac-test-navigation-buttons' }).appendTo(footer);
            that.prev_button = IPA.button({
                name: 'prev',
                label: '@i18n:widget.prev',
                icon: 'fa-chevron-left',
                click: that.prev
            }).appendTo(buttons);
            buttons.append(' ');
            that.new_test_button = IPA.button({
                name: 'new_test',
                label: '@i18n:objects.hbactest.new_test',
                icon: 'fa-repeat',
                click: that.new_test
            }).appendTo(buttons);
        };

        that.run = function() {
            var chosen = exp.test_options(that.entity);
            if (chosen.missing.length) {
                exp.validation_dialog(chosen.missing).open();
                return;
            }
            var command = rpc.command({ method: TEST_COMMAND, options: chosen.options });
            command.on_success = function(data) {
                that.data = data;
                that.refresh();
            };
            command.execute();
        };

        that.refresh = function() {
            var result = that.data && that.data.result;
            if (that.test_result) that.test_result.text(result ? result.summary : '');
            if (that.fields_table) {
                that.fields_table.empty();
                var rows = exp.test_fields(result && result.result);
                for (var i = 0; i < rows.length; i++) {
                    $('<tr/>', { name: rows[i].name })
                        .append($('<th/>', { text: rows[i].label }))
                        .append($('<td/>', { text: rows[i].value }))
                        .appendTo(that.fields_table);
                }
            }
            that.load(that.data);
        };

        that.get_records_map = function(data) {
            var records_map = $.ordered_map();
            var pkeys_map = $.ordered_map();
            var rows = exp.test_records(data.result.result);
            for (var i = 0; i < rows.length; i++) {
                records_map.put(rows[i].name, { outcome: rows[i].outcome });
                pkeys_map.put(rows[i].name, rows[i].name);
            }
            return { records_map: records_map, pkeys_map: pkeys_map };
        };

        that.reset = function() {
            delete that.data;
            that.refresh();
        };

        that.new_test = function() {
            var names = ['user', 'host', 'rules', 'run_test'];
            for (var i = 0; i < names.length; i++) {
                that.entity.get_facet(names[i]).reset();
            }
            navigation.show(that.entity.get_facet('user'));
        };

        return that;
    };

    exp.make_test_spec = function() {
        var facet = function(name, label, managed_entity, columns, factory, extra) {
            return $.extend({
                $factory: factory,
                name: name,
                label: label,
                managed_entity: managed_entity,
                disable_breadcrumb: true,
                facet_group: 'default',
                columns: columns
            }, extra || {});
        };
        var status = { name: ATTR.enabled, label: '@i18n:status.label', formatter: 'boolean_status' };
        return {
            name: TEST_ENTITY,
            label: msg('label', TEST_ENTITY),
            facet_groups: ['default'],
            facets: [
                facet('user', msg('user'), 'user', [
                    'uid', 'givenname', 'sn',
                    {
                        name: 'nsaccountlock',
                        label: '@i18n:status.label',
                        formatter: { $type: 'boolean_status', invert_value: true }
                    }
                ], IPA.hbac.test_select_facet, { row_disabled_attribute: 'nsaccountlock' }),
                facet('host', msg('host'), 'host', [
                    'fqdn', 'description',
                    { name: 'has_keytab', label: '@i18n:objects.host.enrolled', formatter: 'boolean' }
                ], IPA.hbac.test_select_facet),
                facet('rules', msg('rules', TEST_ENTITY), ENTITY, [
                    'cn', status, ATTR.kind, ATTR.priority, 'description'
                ], IPA.hbac.test_rules_facet, { row_enabled_attribute: ATTR.enabled }),
                facet('run_test', '@i18n:objects.hbactest.run_test', ENTITY, [
                    'cn', { name: 'outcome', label: msg('outcome', TEST_ENTITY) }, ATTR.kind, ATTR.priority,
                    status, 'description'
                ], exp.test_run_facet, { row_enabled_attribute: ATTR.enabled })
            ]
        };
    };

    exp.register = function() {
        // The specs read the metadata (choices, labels), which loads after registration: build them then.
        reg.entity.register({ type: ENTITY, spec: { name: ENTITY }, pre_ops: [exp.make_spec] });
        reg.entity.register({ type: TEST_ENTITY, spec: { name: TEST_ENTITY }, pre_ops: [exp.make_test_spec] });
    };

    exp.add_menu_items = function() {
        menu.add_item({
            name: ENTITY,
            label: msg('menu'),
            children: [{ entity: ENTITY }, { entity: TEST_ENTITY }]
        }, 'policy');
    };

    phases.on('registration', exp.register);
    phases.on('profile', exp.add_menu_items, 20);

    return exp;
});
