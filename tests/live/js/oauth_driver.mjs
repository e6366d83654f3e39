// Drives a running gotrue-web server with @supabase/auth-js, one command at a time, so that a
// test can play the browser's part of an OAuth dance between two client calls while the client
// keeps its state (the PKCE code verifier, the session) in its storage.
//
// Usage: node oauth_driver.mjs <base url>
// stdin: one JSON command per line; stdout: one JSON answer per line, in order.
//   {"op": "new", "client": "a", "flowType": "pkce"}            a client with its own storage
//   {"op": "new", "client": "s", "serviceRoleKey": "<jwt>"}  a server-side client (admin API)
//   {"op": "call", "client": "a", "method": "signInWithOAuth", "args": [{...}]}
//       -> {"data": ..., "error": {name, status, code, message, details} | null}
//       a dotted method ("mfa.enroll", "admin.mfa.listFactors") is called on its namespace
//   {"op": "land", "client": "a", "url": "<where the server redirected>"}
//       a page load at that URL in a browser sharing a's storage: a new client with
//       detectSessionInUrl finds the session in the URL (implicit) or exchanges the code (PKCE)
//       -> {"error": ..., "session": ...}
//   {"op": "storage", "client": "a"}                            -> the keys in a's storage
// The pytest side (tests/live/test_auth_js_oauth.py) asserts on the answers.

import { createInterface } from 'node:readline'
import { AuthClient } from '@supabase/auth-js'

const [baseUrl] = process.argv.slice(2)
if (!baseUrl) {
  console.error('usage: node oauth_driver.mjs <base url>')
  process.exit(2)
}

const clients = new Map()

function memoryStorage() {
  const items = new Map()
  return {
    items,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, value) },
    removeItem: (key) => { items.delete(key) },
  }
}

function newClient(storage, flowType, detectSessionInUrl = false, serviceRoleKey = null) {
  const headers = serviceRoleKey
    ? { apikey: serviceRoleKey, Authorization: `Bearer ${serviceRoleKey}` }
    : { apikey: 'anon-key' }
  return new AuthClient({
    url: baseUrl,
    headers,
    storage,
    flowType,
    autoRefreshToken: false,
    persistSession: true,
    detectSessionInUrl,
  })
}

function describeError(error) {
  if (!error) return null
  return {
    name: error.name,
    status: error.status ?? null,
    code: error.code ?? null,
    message: error.message,
    details: error.details ?? null,
  }
}

// A page load in a browser: auth-js reads window.location and, for PKCE, the verifier kept in
// the storage shared with the client that started the flow.
async function land(entry, url) {
  let current = new URL(url)
  // auth-js clears the fragment (implicit) or rewrites the address without the code (PKCE).
  const location = {
    get href() { return current.href },
    get hash() { return current.hash },
    set hash(value) { current.hash = value },
  }
  globalThis.window = {
    location,
    history: { state: null, replaceState: (state, title, next) => { current = new URL(next) } },
  }
  globalThis.document = {}
  try {
    const landed = newClient(entry.storage, entry.flowType, true)
    const { error } = await landed.initialize()
    const { data } = await landed.getSession()
    return { error: describeError(error), session: data.session, url_after: current.href }
  } finally {
    delete globalThis.window
    delete globalThis.document
  }
}

async function run(command) {
  const entry = clients.get(command.client)
  switch (command.op) {
    case 'new': {
      const storage = memoryStorage()
      clients.set(command.client, {
        storage,
        flowType: command.flowType,
        client: newClient(storage, command.flowType, false, command.serviceRoleKey ?? null),
      })
      return { ok: true }
    }
    case 'call': {
      // "mfa.enroll" -> entry.client.mfa.enroll, called on entry.client.mfa.
      const path = command.method.split('.')
      const owner = path.slice(0, -1).reduce((object, key) => object[key], entry.client)
      const result = await owner[path.at(-1)](...(command.args ?? []))
      return { data: result?.data ?? null, error: describeError(result?.error) }
    }
    case 'land':
      return await land(entry, command.url)
    case 'storage':
      return { keys: [...entry.storage.items.keys()].sort() }
    default:
      throw new Error(`unknown op ${command.op}`)
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    answer = await run(JSON.parse(line))
  } catch (error) {
    // An exception the client threw (not an error it returned) is reported, not swallowed.
    answer = { thrown: `${error?.name}: ${error?.message}` }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
process.exit(0)
