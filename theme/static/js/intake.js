/* Intake form (docs/intake-form.md): checks the answers, posts them only encrypted (JWE).
   Nothing typed goes to a URL, cookie, storage or log. */
(() => {
  'use strict';
  const form = document.querySelector('form[data-intake]');
  const cr = window.crypto;
  if (!form?.dataset.key || !cr?.subtle || !cr.randomUUID) return;
  const { subtle } = cr;
  const d = form.dataset;
  const $ = (s, root = form) => root.querySelector(s);
  const $$ = (s, root = form) => Array.from(root.querySelectorAll(s));
  const utf8 = (s) => new TextEncoder().encode(s);
  const button = $('[data-intake-submit]');
  const title = document.title;
  let key, sid, sent, busy;

  const b64u = (buf) => btoa(Array.from(new Uint8Array(buf), (b) => String.fromCharCode(b)).join(''))
    .replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_');

  const inputsOf = (w) => $$('input,textarea', w);
  const checked = (w) => inputsOf(w).filter((i) => i.checked).map((i) => i.value);

  // Required now? "contact:phone sms": when contact has phone or sms ticked.
  const required = (w) => {
    const rule = w.dataset.requiredIf;
    if (!rule) return 'required' in w.dataset;
    const [name, values] = rule.split(':');
    const other = $('[data-field="' + name + '"]');
    return !!other && checked(other).some((v) => values.split(' ').includes(v));
  };

  const attr = (el, name, value) => (value ? el.setAttribute(name, value) : el.removeAttribute(name));

  const setError = (w, message) => {
    const inputs = inputsOf(w);
    const error = $('.intake-error', w);
    error.hidden = !message;
    error.lastChild.textContent = message;
    w.classList.toggle('intake-field--error', !!message);
    const el = $('fieldset', w) || inputs[0];
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== error.id);
    if (message) ids.push(error.id);
    attr(el, 'aria-describedby', ids.join(' '));
    inputs.forEach((i) => attr(i, 'aria-invalid', message && 'true'));
  };

  const validate = () => {
    const errors = [];
    $$('[data-field]').forEach((w) => {
      const first = inputsOf(w)[0];
      const choice = /^(checkbox|radio)$/.test(first.type);
      const empty = choice ? !checked(w).length : !first.value.trim();
      const message = empty
        ? (required(w) && w.dataset.errorRequired) || ''
        : (!choice && !first.checkValidity() && w.dataset.errorInvalid) || '';
      setError(w, message);
      if (message) errors.push([first, message]);
    });
    return errors;
  };

  const showSummary = (errors) => {
    const box = $('[data-intake-summary]');
    const list = $('ul', box);
    list.replaceChildren(...errors.map(([input, message]) => {
      const li = document.createElement('li');
      const a = li.appendChild(document.createElement('a'));
      a.href = '#' + input.id;
      a.textContent = message;
      return li;
    }));
    box.hidden = !errors.length;
    document.title = (errors.length ? 'Error: ' : '') + title;
    if (errors.length) box.focus();
  };

  const payload = () => {
    const fields = {};
    const consent = {};
    $$('[data-field]').forEach((w) => {
      const { field: name, type, channel } = w.dataset;
      if (type === 'consent') consent[channel] = checked(w).length > 0;
      else if (type === 'checkboxes') fields[name] = checked(w);
      else if (type === 'radios') fields[name] = checked(w)[0] || '';
      else fields[name] = inputsOf(w)[0].value;
    });
    consent.wording_version = d.wordingVersion || '';
    const trap = $('[data-intake-trap]');
    return {
      v: 1, form: d.form, sid, submitted_at: new Date().toISOString(), page: location.pathname,
      lang: document.documentElement.lang, likely_spam: !!trap?.value, fields, consent,
    };
  };

  // Compact JWE: new AES key and IV per attempt, wrapped with RSA-OAEP-256, header as AAD.
  const encrypt = async (data) => {
    const header = b64u(utf8(JSON.stringify({
      alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: d.kid, cty: 'application/json', sid,
    })));
    const cek = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const iv = cr.getRandomValues(new Uint8Array(12));
    const wrapped = await subtle.encrypt({ name: 'RSA-OAEP' }, key, await subtle.exportKey('raw', cek));
    const sealed = new Uint8Array(await subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(header), tagLength: 128 }, cek, utf8(JSON.stringify(data)),
    ));
    return [header, b64u(wrapped), b64u(iv), b64u(sealed.slice(0, -16)), b64u(sealed.slice(-16))].join('.');
  };

  // ok (2xx, 409), too_many (429), unavailable (503), busy (5xx), refused (4xx), timeout, network.
  const send = async (jwe) => {
    const control = new AbortController();
    const timer = setTimeout(() => control.abort(), 15000);
    try {
      const response = await fetch(d.endpoint, {
        method: 'POST', body: new URLSearchParams({ form: d.form, submission_id: sid, jwe }),
        headers: { Accept: 'application/json' }, credentials: 'omit', referrerPolicy: 'no-referrer',
        signal: control.signal,
      });
      const s = response.status;
      if (response.ok || s === 409) return 'ok';
      if (s === 429) {
        // Retry-After (seconds, if exposed) in whole minutes, 1 to 60.
        const after = response.headers.get('Retry-After');
        const min = /^\d+$/.test(after) && Math.min(60, Math.ceil(after / 60) || 1);
        const wait = $('[data-intake-wait]');
        wait.textContent = wait.dataset[min > 1 ? 'many' : min ? 'one' : 'unknown'].replace('{n}', min);
        return 'too_many';
      }
      return s === 503 ? 'unavailable' : s > 499 ? 'busy' : 'refused';
    } catch {
      return control.signal.aborted ? 'timeout' : 'network';
    } finally {
      clearTimeout(timer);
    }
  };

  const showAlert = (reason) => {
    const box = $('[data-intake-alert]');
    $$('[data-intake-reason]', box).forEach((p) => { p.hidden = p.dataset.intakeReason !== reason; });
    $('[data-intake-retry-hint]', box).hidden = reason === 'refused';
    box.hidden = !reason;
  };

  const succeed = () => {
    form.reset();
    sid = sent = '';
    $('[data-intake-body]').hidden = true;
    const done = $('[data-intake-success]');
    done.hidden = false;
    done.focus();
  };

  const submit = async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    let outcome = '';
    try {
      showAlert('');
      const errors = validate();
      showSummary(errors);
      if (errors.length) return;
      // A filled trap is sent, flagged. Changed answers get a new id (the last may be stored).
      const data = payload();
      const ans = JSON.stringify([data.fields, data.consent, data.likely_spam]);
      if (ans !== sent) sid = cr.randomUUID();
      sent = ans;
      data.sid = sid;
      button.textContent = button.dataset.sending;
      attr(button, 'aria-disabled', 'true');
      outcome = await encrypt(data).then(send, () => 'refused');
      if (outcome === 'ok') succeed();
      else showAlert(outcome);
    } finally {
      busy = false;
      attr(button, 'aria-disabled', '');
      button.textContent = button.dataset[/^(ok|refused|)$/.test(outcome) ? 'label' : 'retry'];
    }
  };

  const focusField = (event) => {
    const link = event.target.closest('a');
    const target = link && document.getElementById(link.hash.slice(1));
    if (!target) return;
    event.preventDefault();
    (target.closest('[data-field]') || target).scrollIntoView();
    target.focus({ preventScroll: true });
  };

  subtle.importKey(
    'spki', Uint8Array.from(atob(d.key), (c) => c.charCodeAt(0)),
    { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt'],
  ).then((k) => {
    key = k;
    form.addEventListener('submit', submit);
    $('[data-intake-summary]').addEventListener('click', focusField);
    $('[data-intake-fallback]').hidden = true;
    $('[data-intake-body]').hidden = false;
  }, () => {});
})();
