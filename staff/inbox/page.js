/* The staff inbox's page: the controls, the table, the detail view, Export CSV and Close.
   Every text shown goes through visible() and textContent; nothing goes to any storage, cookie or
   URL. Uses reader.js (loaded before it, in the same function). */
const form = $('#open-form');
const status = $('#status');
const results = $('#results');
const tbody = $('#table tbody');
const problemsBox = $('#problems');
const detail = $('#detail');
const dropZone = $('#drop');
let dropped = [];
let shown = [];
let busy = false;

const el = (tag, content, className) => {
  const node = document.createElement(tag);
  if (content !== undefined) node.textContent = visible(content);
  if (className) node.className = className;
  return node;
};
const say = (message) => { status.textContent = message; };
const CHANNELS = [['phone', 'Phone'], ['email', 'Email'], ['sms', 'Text message']];
// "2026-11-21T10:00:00.123Z" as "2026-11-21 10:00:00 UTC" (the exact value is in data-time).
const shownTime = (t) => (normalTime(t) ? normalTime(t).replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC') : t);
const shownValue = (v) => (Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));

const showDetail = (entry, button) => {
  const list = $('#detail-list');
  list.textContent = '';
  const s = entry.submission;
  const add = (term, value) => { list.append(el('dt', term), el('dd', value)); };
  add('Received', shownTime(entry.time) + (entry.timeSource === SENDER_CLAIM ? " (sender's claim)" : ''));
  if (s.likely_spam) add('Likely spam', 'yes: the hidden spam trap was filled');
  if (entry.warning) add('Warning', entry.warning);
  Object.entries(s.fields || {}).forEach(([k, v]) => add(k, shownValue(v)));
  CHANNELS.forEach(([k, label]) => {
    if (s.consent && k in s.consent) add(`Consent: ${label}`, shownValue(s.consent[k]));
  });
  add('Consent wording version', (s.consent && s.consent.wording_version) || '');
  add('Language', s.lang || '');
  add('Submission id', s.sid);
  add('Form', `${s.form || ''} ${s.page || ''}`.trim());
  add('Sent at (sender\'s claim)', s.submitted_at || '');
  add('Files', entry.files.join(', '));
  $('#detail-heading').textContent = visible(`Submission from ${(s.fields && s.fields.name) || 'unnamed'}`);
  detail.hidden = false;
  detail.dataset.sid = s.sid;
  detail.focus();
  detail.returnTo = button;
};

const render = ({ entries, problems }, warning) => {
  tbody.textContent = '';
  entries.forEach((entry) => {
    const s = entry.submission;
    const f = s.fields || {};
    const tr = document.createElement('tr');
    tr.dataset.sid = s.sid;
    tr.dataset.time = entry.time;
    tr.dataset.timeSource = entry.timeSource;
    tr.dataset.lang = s.lang || '';
    tr.dataset.spam = s.likely_spam ? 'yes' : 'no';
    tr.dataset.warning = entry.warning ? 'yes' : 'no';
    if (s.likely_spam) tr.className = 'is-spam';
    const when = el('td', shownTime(entry.time), 'when');
    if (entry.timeSource === SENDER_CLAIM) when.append(el('span', "sender's claim", 'claim'));
    const name = el('td', f.name || '');
    name.dataset.col = 'name';
    const contact = el('td', f.contact || '');
    const consent = el('td');
    CHANNELS.forEach(([k, label]) => {
      if (s.consent && k in s.consent) consent.append(el('span', `${label}: ${shownValue(s.consent[k])}`, 'note'));
    });
    consent.append(el('span', `wording ${(s.consent && s.consent.wording_version) || '?'}`, 'note'));
    const answers = el('td');
    Object.entries(f).filter(([k]) => !['name', 'contact'].includes(k))
      .forEach(([k, v]) => answers.append(el('span', `${k}: ${shownValue(v)}`, 'note')));
    const notes = el('td');
    if (s.likely_spam) notes.append(el('span', 'Likely spam', 'spam'));
    if (entry.warning) notes.append(el('span', entry.warning, 'warn'));
    if (s.lang) notes.append(el('span', `Language: ${s.lang}`, 'note'));
    const open = el('td');
    const button = el('button', 'Show');
    button.type = 'button';
    button.setAttribute('aria-label', visible(`Show the submission from ${f.name || 'unnamed'}`));
    button.addEventListener('click', () => showDetail(entry, button));
    open.append(button);
    tr.append(when, name, contact, consent, answers, notes, open);
    tbody.append(tr);
  });
  const ptbody = $('#problem-table tbody');
  ptbody.textContent = '';
  const rows = warning ? [['(private key)', warning], ...problems] : problems;
  rows.forEach(([file, message]) => {
    const tr = document.createElement('tr');
    tr.dataset.file = file;
    tr.append(el('td', file), el('td', message));
    ptbody.append(tr);
  });
  problemsBox.hidden = !rows.length;
  detail.hidden = true;
  results.hidden = false;
};

const submissionFiles = () => [...$('#files').files, ...dropped];

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (busy) return;
  const keyFile = $('#key').files[0];
  const files = submissionFiles();
  if (!keyFile) { say('Choose the private key file.'); $('#key').focus(); return; }
  if (!files.length) { say('Choose or drop the files with the submissions.'); $('#files').focus(); return; }
  busy = true;
  say('Opening…');
  try {
    const state = await openKey(keyFile, $('#passphrase').value);
    const result = await readAll(files, state);
    shown = result.entries;
    render(result, state.warning);
    const n = result.entries.length;
    const p = result.problems.length;
    say(`${n} submission${n === 1 ? '' : 's'} shown` + (p ? `; ${p} problem${p === 1 ? '' : 's'} listed below.` : '.')
      + (result.found ? '' : ' No encrypted submission was found in these files.'));
  } catch (e) {
    say(e instanceof Problem ? e.message : 'The private key could not be opened.');
  } finally {
    $('#passphrase').value = '';
    busy = false;
  }
});

$('#export').addEventListener('click', () => {
  const blob = new Blob([toCsv(shown)], { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = 'intake-submissions.csv';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  say('CSV exported. It holds health information: file it in the clinic system, then delete it.');
});

$('#close').addEventListener('click', () => {
  shown = [];
  dropped = [];
  form.reset();
  tbody.textContent = '';
  $('#problem-table tbody').textContent = '';
  $('#detail-list').textContent = '';
  $('#detail-heading').textContent = 'Submission';
  $('#dropped').textContent = '';
  delete detail.dataset.sid;
  detail.returnTo = null;
  detail.hidden = true;
  problemsBox.hidden = true;
  results.hidden = true;
  say('Closed: everything was removed from this page.');
  $('#key').focus();
});

$('#print').addEventListener('click', () => window.print());

dropZone.addEventListener('dragover', (e) => { e.preventDefault(); dropZone.classList.add('over'); });
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (e) => {
  e.preventDefault();
  dropZone.classList.remove('over');
  dropped = dropped.concat([...e.dataTransfer.files]);
  $('#dropped').textContent = `${dropped.length} dropped file${dropped.length === 1 ? '' : 's'} added.`;
});
// Files dropped anywhere else would open in the tab, replacing this page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());
