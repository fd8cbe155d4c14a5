/*
 * Session recording rules in FreeIPA's Web UI: an entity under Policy with a search facet (status,
 * batch enable/disable) and a details facet with every recording option and the user and host
 * membership tables.
 *
 * Installed as /usr/share/ipa/ui/js/plugins/sessionrecording/sessionrecording.js; FreeIPA's plugin
 * loader requires it as 'sessionrecording/sessionrecording', so core modules are named 'freeipa/...'.
 * Field labels come from the server plugin's param labels (the metadata), so they are not repeated here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
define([
    'freeipa/ipa',
    'freeipa/menu',
    'freeipa/phases',
    'freeipa/reg',
    'freeipa/details',
    'freeipa/rule',
    'freeipa/search',
    'freeipa/association',
    'freeipa/entity'
], function(IPA, menu, phases, reg) {
    'use strict';

    var ENTITY = 'sessionrecording';

    // Param names are the rule's LDAP attribute names, lower-cased (ipa_plugin/layout.py).
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
        watch_path: 'ipasessionrecordingwatchpath'
    };

    var exp = IPA.sessionrecording = {
        ENTITY: ENTITY,
        ATTR: ATTR
    };

    // Member removals run before other updates, as in FreeIPA's own rule pages.
    var remove_priority = IPA.config.default_priority - 1;

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
                add_title: tables[i].add_title,
                remove_title: tables[i].remove_title
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
            label: section === 'user' ? 'Who' : 'Where',
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
            {
                $type: 'radio',
                name: ATTR.kind,
                options: [
                    { value: 'record', label: 'Record the sessions' },
                    { value: 'exempt', label: 'Do not record the sessions (exempt)' }
                ]
            },
            ATTR.priority
        ]);
        var recording = section_fields('recording', [
            { $type: 'checkbox', name: ATTR.log_input },
            { $type: 'checkbox', name: ATTR.log_output },
            { $type: 'checkbox', name: ATTR.log_window },
            { $type: 'textarea', name: ATTR.notice },
            { $type: 'checkbox', name: ATTR.audit_commands },
            { $type: 'multivalued', name: ATTR.watch_path }
        ]);
        var limits = section_fields('limits', [
            ATTR.latency,
            ATTR.payload,
            ATTR.rate,
            ATTR.burst,
            {
                $type: 'select',
                name: ATTR.limit_action,
                options: [
                    { value: '', label: 'Default' },
                    { value: 'pass', label: 'pass: record everything' },
                    { value: 'delay', label: 'delay: slow the session down' },
                    { value: 'drop', label: 'drop: lose the excess' }
                ]
            }
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
                    label: 'What is recorded',
                    widgets: section_widgets(recording)
                },
                {
                    $type: 'details_section',
                    name: 'limits',
                    label: 'Latency and limits',
                    widgets: section_widgets(limits)
                }
            ]
        };

        membership(spec, 'user', 'memberuser', 'usercategory', [
            {
                type: 'user', add_method: 'add_user', remove_method: 'remove_user',
                add_title: 'Add users to the rule', remove_title: 'Remove users from the rule'
            },
            {
                type: 'group', add_method: 'add_user', remove_method: 'remove_user',
                add_title: 'Add user groups to the rule', remove_title: 'Remove user groups from the rule'
            }
        ], 'Anyone', 'Specified users and groups');
        membership(spec, 'host', 'memberhost', 'hostcategory', [
            {
                type: 'host', add_method: 'add_host', remove_method: 'remove_host',
                add_title: 'Add hosts to the rule', remove_title: 'Remove hosts from the rule'
            },
            {
                type: 'hostgroup', add_method: 'add_host', remove_method: 'remove_host',
                add_title: 'Add host groups to the rule', remove_title: 'Remove host groups from the rule'
            }
        ], 'Any host', 'Specified hosts and host groups');
        return spec;
    };

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
                title: 'Add session recording rule',
                fields: ['cn', ATTR.kind, ATTR.priority, 'description']
            },
            deleter_dialog: {
                title: 'Remove session recording rules'
            }
        };
    };

    exp.register = function() {
        reg.entity.register({ type: ENTITY, spec: exp.make_spec() });
    };

    exp.add_menu_items = function() {
        menu.add_item({ entity: ENTITY, label: 'Session Recording' }, 'policy');
    };

    phases.on('registration', exp.register);
    phases.on('profile', exp.add_menu_items, 20);

    return exp;
});
