// Glue between vanilla-cookieconsent and Guichet's consent API.
//
// The page is opened as `/?api=<Guichet base URL>&tenant=<slug>`. It reads
// the tenant's purposes from `GET /v1/tenants/{tenant}/consent-policy`,
// turns each into a banner category (essential ones read-only), and on the
// banner's first consent and on every later change POSTs the choices to
// `/v1/tenants/{tenant}/consents` with the visitor's random subject id,
// kept in localStorage with the last receipt. "Retirer mon consentement"
// sends `DELETE /v1/tenants/{tenant}/consents/{subject_id}`, forgets the
// banner's choice and asks again.
(function () {
  'use strict';

  var SUBJECT_KEY = 'guichet.subject_id';
  var RECEIPT_KEY = 'guichet.receipt';

  var params = new URLSearchParams(window.location.search);
  var api = (params.get('api') || '').replace(/\/+$/, '');
  var tenant = params.get('tenant') || '';
  var base = api + '/v1/tenants/' + encodeURIComponent(tenant);
  var policy = null;

  function $(id) {
    return document.getElementById(id);
  }

  function setState(state, text) {
    var status = $('status');
    status.dataset.state = state;
    status.textContent = text;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function randomUuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return window.crypto.randomUUID();
    }
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' +
      h.slice(16, 20) + '-' + h.slice(20);
  }

  function subjectId() {
    var id = window.localStorage.getItem(SUBJECT_KEY);
    if (!id) {
      id = randomUuid();
      window.localStorage.setItem(SUBJECT_KEY, id);
    }
    return id;
  }

  function show(consent) {
    $('subject').textContent = subjectId();
    $('consent-id').textContent = consent ? consent.consent_id : '';
    $('choices').textContent = consent ? JSON.stringify(consent.choices) : '';
    $('receipt').textContent = consent ? consent.receipt : '';
  }

  // A problem+json answer, or a network failure (CORS refusals are one:
  // the browser hides the answer and fetch rejects with a TypeError).
  async function failure(res) {
    var detail = '';
    try {
      detail = (await res.json()).detail || '';
    } catch (e) {
      detail = '';
    }
    return new Error('HTTP ' + res.status + ' ' + detail);
  }

  // Records `choices` (purpose id -> bool) under `version`; resolves to
  // the service's answer.
  async function send(choices, version) {
    var res = await fetch(base + '/consents', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        subject_id: subjectId(),
        policy_version: version,
        choices: choices,
        page_url: window.location.origin + window.location.pathname,
      }),
    });
    if (res.status !== 201) {
      throw await failure(res);
    }
    return res.json();
  }

  // What the banner holds, as a choice for every purpose of the policy.
  function choicesFromBanner() {
    var choices = {};
    policy.purposes.forEach(function (p) {
      choices[p.id] = p.essential || window.CookieConsent.acceptedCategory(p.id);
    });
    return choices;
  }

  async function record() {
    var acceptType = window.CookieConsent.getUserPreferences().acceptType;
    setState('sending', 'Enregistrement de vos choix…');
    try {
      var consent = await send(choicesFromBanner(), policy.policy_version);
      window.localStorage.setItem(RECEIPT_KEY, consent.receipt);
      show(consent);
      $('status').dataset.acceptType = acceptType;
      $('status').dataset.consentId = consent.consent_id;
      setState('recorded', 'Vos choix sont enregistrés (' + acceptType + ').');
    } catch (e) {
      setState('error', 'Vos choix n\'ont pas pu être enregistrés : ' + e.name + ': ' + e.message);
    }
  }

  async function withdraw() {
    setState('sending', 'Retrait de votre consentement…');
    try {
      var res = await fetch(base + '/consents/' + encodeURIComponent(subjectId()), {
        method: 'DELETE',
      });
      if (res.status !== 204 && res.status !== 404) {
        throw await failure(res);
      }
      window.localStorage.removeItem(RECEIPT_KEY);
      show(null);
      window.CookieConsent.reset(true);
      await startBanner();
      setState('withdrawn', 'Votre consentement est retiré : le bandeau vous demande à nouveau.');
    } catch (e) {
      setState('error', 'Le retrait a échoué : ' + e.name + ': ' + e.message);
    }
  }

  function bannerConfig() {
    var categories = {};
    var sections = [{
      title: 'Vos choix',
      description: 'Chaque finalité ci-dessous peut être acceptée ou refusée. ' +
        'Votre choix est conservé ' + policy.validity_months + ' mois.',
    }];
    policy.purposes.forEach(function (p) {
      categories[p.id] = { enabled: p.essential, readOnly: p.essential };
      sections.push({
        title: escapeHtml(p.name),
        description: escapeHtml(p.description),
        linkedCategory: p.id,
      });
    });
    return {
      // The test browser is driven by WebDriver; the banner must still show.
      hideFromBots: false,
      cookie: { name: 'guichet_banner', useLocalStorage: true },
      guiOptions: {
        consentModal: { layout: 'box', position: 'bottom right', equalWeightButtons: true },
        preferencesModal: { layout: 'box', equalWeightButtons: true },
      },
      categories: categories,
      onFirstConsent: record,
      onChange: record,
      language: {
        default: 'fr',
        translations: {
          fr: {
            consentModal: {
              title: 'Vos choix en matière de cookies',
              description: 'Nous utilisons des cookies pour mesurer l\'audience et ' +
                'proposer des boutons de partage. Vous pouvez tout accepter, tout ' +
                'refuser ou choisir finalité par finalité.',
              acceptAllBtn: 'Tout accepter',
              acceptNecessaryBtn: 'Tout refuser',
              showPreferencesBtn: 'Personnaliser',
            },
            preferencesModal: {
              title: 'Préférences de cookies',
              acceptAllBtn: 'Tout accepter',
              acceptNecessaryBtn: 'Tout refuser',
              savePreferencesBtn: 'Enregistrer mes choix',
              closeIconLabel: 'Fermer',
              sections: sections,
            },
          },
        },
      },
    };
  }

  async function startBanner() {
    await window.CookieConsent.run(bannerConfig());
  }

  async function main() {
    show(null);
    $('receipt').textContent = window.localStorage.getItem(RECEIPT_KEY) || '';
    $('withdraw').addEventListener('click', withdraw);
    try {
      var res = await fetch(base + '/consent-policy');
      if (res.status !== 200) {
        throw await failure(res);
      }
      policy = await res.json();
    } catch (e) {
      setState('error', 'La politique de cookies est indisponible : ' + e.name + ': ' + e.message);
      return;
    }
    await startBanner();
    setState('ready', 'Politique ' + policy.policy_version + ' : ' +
      policy.purposes.length + ' finalités.');
  }

  window.guichetBanner = { send: send };
  main();
})();
