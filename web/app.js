// The tester: plain DOM, no framework, no build. Message text only ever goes
// through textContent, never through HTML parsing.
'use strict'

const POLL_MS = 5000
const $ = (id) => document.getElementById(id)

const els = {
  connection: $('connection'),
  sendForm: $('send-form'),
  player: $('player-name'),
  message: $('message'),
  messageLength: $('message-length'),
  channel: $('channel'),
  send: $('send'),
  sendError: $('send-error'),
  refresh: $('refresh'),
  clear: $('clear'),
  filterPlayer: $('filter-player'),
  filterLimit: $('filter-limit'),
  listError: $('list-error'),
  list: $('messages'),
  empty: $('empty'),
  count: $('count'),
}

const state = {
  messages: new Map(), // id -> message, as the server sent it
  nextAfter: 0,
  epoch: null,
  stream: null,
  loading: null,
}

// ---- talking to the server -------------------------------------------------

const api = async (path, options = {}) => {
  const response = await fetch(path, { ...options, headers: { Accept: 'application/json', ...(options.headers || {}) } })
  let body = null
  try {
    body = await response.json()
  } catch {
    body = null
  }
  if (!response.ok || !body || body.success !== true) {
    const text = body && typeof body.error === 'string' ? body.error : `the server answered ${response.status} ${response.statusText}`
    throw new Error(text)
  }
  return body
}

const filters = () => {
  const player = els.filterPlayer.value.trim()
  const limit = Number.parseInt(els.filterLimit.value, 10)
  const channel = els.channel.value.trim()
  return { player, limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100, channel }
}

const listPath = ({ player, limit, channel }) => {
  const params = new URLSearchParams({ limit: String(limit) })
  if (channel) params.set('channel', channel)
  const base = player ? `/api/messages/${encodeURIComponent(player)}` : '/api/messages'
  return `${base}?${params}`
}

const streamPath = ({ player, channel }, after) => {
  const params = new URLSearchParams({ after: String(after) })
  if (state.epoch) params.set('epoch', state.epoch)
  if (channel) params.set('channel', channel)
  if (player) params.set('player', player)
  return `/api/stream?${params}`
}

// ---- showing -----------------------------------------------------------------

const showError = (el, text) => {
  el.textContent = text
  el.hidden = !text
}

const formatTime = (iso) => {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

const renderMessage = (m) => {
  const item = document.createElement('li')
  item.className = m.type === 'reply' ? 'message reply' : 'message'
  item.dataset.id = String(m.id)

  const meta = document.createElement('div')
  meta.className = 'meta'
  const time = document.createElement('time')
  time.dateTime = m.timestamp
  time.title = m.timestamp
  time.textContent = formatTime(m.timestamp)
  const who = document.createElement('span')
  who.className = 'player'
  who.textContent = m.player_name
  meta.append(time, who)
  if (m.type === 'reply') {
    const tag = document.createElement('span')
    tag.className = 'tag'
    tag.textContent = 'auto-reply'
    meta.append(tag)
  }
  if (m.channel && m.channel !== 'global') {
    const channel = document.createElement('span')
    channel.className = 'tag channel'
    channel.textContent = `#${m.channel}`
    meta.append(channel)
  }
  const id = document.createElement('span')
  id.className = 'id'
  id.textContent = `#${m.id}`
  meta.append(id)

  const text = document.createElement('p')
  text.className = 'text'
  text.textContent = m.message
  item.append(meta, text)
  return item
}

const render = () => {
  const { limit } = filters()
  const ids = [...state.messages.keys()].sort((a, b) => a - b)
  // Keep the newest `limit`, as the server does.
  for (const id of ids.slice(0, Math.max(0, ids.length - limit))) state.messages.delete(id)
  const shown = ids.slice(-limit).map((id) => state.messages.get(id))
  const atBottom = els.list.scrollHeight - els.list.scrollTop - els.list.clientHeight < 40
  els.list.replaceChildren(...shown.map(renderMessage))
  els.empty.hidden = shown.length > 0
  els.count.textContent = `(${shown.length})`
  if (atBottom) els.list.scrollTop = els.list.scrollHeight
}

const matchesFilters = (m) => {
  const { player, channel } = filters()
  if ((m.channel || 'global') !== (channel || 'global')) return false
  return !player || m.player_name.toLowerCase() === player.toLowerCase()
}

const add = (m) => {
  if (!matchesFilters(m)) return
  state.messages.set(m.id, m)
  if (m.id > state.nextAfter) state.nextAfter = m.id
}

// ---- loading, live stream and polling ------------------------------------------

const load = async () => {
  const wanted = filters()
  const request = api(listPath(wanted))
  state.loading = request
  try {
    const page = await request
    if (state.loading !== request) return // a newer load superseded this one
    state.messages = new Map(page.messages.map((m) => [m.id, m]))
    const epochChanged = state.epoch !== null && state.epoch !== page.epoch
    state.epoch = page.epoch
    state.nextAfter = page.next_after
    showError(els.listError, '')
    render()
    if (epochChanged || !state.stream) openStream()
  } catch (err) {
    if (state.loading === request) showError(els.listError, err.message)
  }
}

const setConnection = (live) => {
  els.connection.textContent = live ? 'live' : 'polling every 5 s'
  els.connection.classList.toggle('live', live)
}

const openStream = () => {
  if (state.stream) state.stream.close()
  if (typeof EventSource !== 'function') return setConnection(false)
  const stream = new EventSource(streamPath(filters(), state.nextAfter))
  state.stream = stream
  stream.onopen = () => setConnection(true)
  stream.onerror = () => {
    // EventSource retries by itself and resumes with Last-Event-ID; meanwhile the poll keeps the list fresh.
    if (state.stream === stream) setConnection(false)
  }
  stream.onmessage = (event) => {
    try {
      add(JSON.parse(event.data))
      render()
    } catch {
      // A malformed event is skipped; the next poll or load repairs the list.
    }
  }
  stream.addEventListener('gap', () => load())
}

const streamIsLive = () => state.stream && state.stream.readyState === EventSource.OPEN

setInterval(() => {
  if (!streamIsLive()) load()
}, POLL_MS)

const reloadWithFilters = () => {
  if (state.stream) state.stream.close()
  state.stream = null
  setConnection(false)
  load()
}

// ---- actions ---------------------------------------------------------------------

els.sendForm.addEventListener('submit', async (event) => {
  event.preventDefault()
  showError(els.sendError, '')
  const body = { player_name: els.player.value, message: els.message.value }
  const channel = els.channel.value.trim()
  if (channel) body.channel = channel
  els.send.disabled = true
  try {
    const sent = await api('/api/send', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    })
    localStorage.setItem('playerName', els.player.value)
    els.message.value = ''
    els.messageLength.textContent = '0'
    add(sent.message)
    if (sent.auto_reply) add(sent.auto_reply)
    render()
    els.list.scrollTop = els.list.scrollHeight
    els.message.focus()
  } catch (err) {
    showError(els.sendError, err.message)
  } finally {
    els.send.disabled = false
  }
})

els.message.addEventListener('input', () => {
  els.messageLength.textContent = String([...els.message.value].length)
})

els.message.addEventListener('keydown', (event) => {
  // Enter sends, Shift+Enter starts a new line, as in a chat box.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    els.sendForm.requestSubmit()
  }
})

els.refresh.addEventListener('click', () => load())

els.clear.addEventListener('click', async () => {
  if (!window.confirm('Clear all messages on the server, in every channel? This cannot be undone.')) return
  try {
    await api('/api/clear', { method: 'POST' })
    state.messages.clear()
    render()
    showError(els.listError, '')
  } catch (err) {
    showError(els.listError, err.message)
  }
})

let filterTimer
const onFilterChange = () => {
  clearTimeout(filterTimer)
  filterTimer = setTimeout(reloadWithFilters, 300)
}
els.filterPlayer.addEventListener('input', onFilterChange)
els.filterLimit.addEventListener('input', onFilterChange)
els.channel.addEventListener('change', reloadWithFilters)
$('filters').addEventListener('submit', (event) => event.preventDefault())

els.player.value = localStorage.getItem('playerName') || ''
setConnection(false)
load()
