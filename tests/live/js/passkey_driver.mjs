// Drives a running gotrue-web server's passkey endpoints and WebAuthn MFA factor with
// @supabase/auth-js (its low-level client.passkey API, admin.passkey and mfa) and prints one
// JSON object: step name -> what the client returned.
//
// Usage: node passkey_driver.mjs <scenario> <base url> <authenticator url> <service role key>
//   scenario "passkeys": register, list, rename, sign in, replay, unknown and deleted passkeys,
//                        the admin list and delete, and the client's experimental switch
//   scenario "mfa":      a WebAuthn factor enrolled, created, used, and the client's errors
//
// Node has no WebAuthn: the authenticator is the test's Python SoftAuthenticator behind
// <authenticator url> (tests/live/test_auth_js_passkeys.py). GET /setup names the users and
// the relying party; POST /create and /get take the options auth-js got and answer with the
// credential as a browser's PublicKeyCredential.toJSON() gives it.

import { AuthClient } from '@supabase/auth-js'

const [scenario, baseUrl, authenticatorUrl, serviceRoleKey] = process.argv.slice(2)
if (!scenario || !baseUrl || !authenticatorUrl || !serviceRoleKey) {
  console.error('usage: node passkey_driver.mjs <passkeys|mfa> <base url> <authenticator url> '
                + '<service role key>')
  process.exit(2)
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000'

function memoryStorage() {
  const items = new Map()
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, value) },
    removeItem: (key) => { items.delete(key) },
  }
}

function newClient({ experimental = { passkey: true }, serviceRole = false } = {}) {
  const headers = serviceRole
    ? { apikey: serviceRoleKey, Authorization: `Bearer ${serviceRoleKey}` }
    : { apikey: 'anon-key' }
  return new AuthClient({
    url: baseUrl, headers, storage: memoryStorage(), experimental,
    autoRefreshToken: false, persistSession: true, detectSessionInUrl: false,
  })
}

function describe({ data, error }) {
  return {
    data: data ?? null,
    error: error ? { name: error.name, status: error.status ?? null, code: error.code ?? null,
                     message: error.message } : null,
  }
}

const results = {}

// Runs one client call, records what it returned and hands back its data.
async function step(name, call) {
  const answer = describe(await call())
  results[name] = answer
  return answer.data
}

async function thrownBy(call) {
  try {
    await call()
    return null
  } catch (error) {
    return `${error.name}: ${error.message}`
  }
}

async function authenticator(path, body) {
  const answer = await fetch(`${authenticatorUrl}/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!answer.ok) throw new Error(`authenticator /${path} answered ${answer.status}`)
  return answer.json()
}

// auth-js hands mfa.challenge's options over for navigator.credentials, binary fields as
// ArrayBuffers; the authenticator takes them as JSON again (base64url).
function asJSON(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value instanceof ArrayBuffer
      ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    return Buffer.from(bytes).toString('base64url')
  }
  if (Array.isArray(value)) return value.map(asJSON)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, asJSON(item)]))
  }
  return value
}

// A credential the way mfa.verify expects one from the browser: it calls toJSON().
function browserCredential(json) {
  return { toJSON: () => json }
}

async function signedIn(email, password) {
  const client = newClient()
  const { error } = await client.signInWithPassword({ email, password })
  if (error) throw new Error(`password sign-in failed: ${error.message}`)
  return client
}

async function signInWithPasskey(name, credentialId) {
  const visitor = newClient()
  const started = await step(`${name}_options`, () => visitor.passkey.startAuthentication())
  const assertion = await authenticator('get', { options: started.options,
                                                 credential_id: credentialId })
  await step(name, () => visitor.passkey.verifyAuthentication({
    challengeId: started.challenge_id, credential: assertion }))
  return { visitor, started, assertion }
}

async function passkeys(setup) {
  const { email, password, user_id: userId } = setup.passkey_user
  results.experimental_off = await thrownBy(
    () => newClient({ experimental: {} }).passkey.startRegistration())
  results.admin_experimental_off = await thrownBy(
    () => newClient({ experimental: {}, serviceRole: true }).admin.passkey.listPasskeys(
      { userId }))

  const client = await signedIn(email, password)
  const started = await step('registration_options', () => client.passkey.startRegistration())
  const credential = await authenticator('create', { options: started.options })
  const registered = await step('registration', () => client.passkey.verifyRegistration({
    challengeId: started.challenge_id, credential }))
  await step('registration_again', () => client.passkey.verifyRegistration({
    challengeId: started.challenge_id, credential }))
  await step('registration_nil_challenge', () => client.passkey.verifyRegistration({
    challengeId: NIL_UUID, credential }))

  await step('list', () => client.passkey.list())
  await step('update', () => client.passkey.update({
    passkeyId: registered.id, friendlyName: 'Work laptop' }))
  await step('update_nil', () => client.passkey.update({
    passkeyId: NIL_UUID, friendlyName: 'Nobody' }))

  const { visitor, started: signInStarted, assertion } = await signInWithPasskey(
    'sign_in', credential.rawId)
  await step('get_user', () => visitor.getUser())
  await step('replay', () => newClient().passkey.verifyAuthentication({
    challengeId: signInStarted.challenge_id, credential: assertion }))
  await step('list_after_sign_in', () => client.passkey.list())

  // Created by the authenticator, never verified with the server.
  const another = await step('second_registration_options',
                             () => client.passkey.startRegistration())
  const stray = await authenticator('create', { options: another.options })
  await signInWithPasskey('unregistered', stray.rawId)

  // A second passkey, deleted by its user.
  const third = await client.passkey.startRegistration()
  const thirdCredential = await authenticator('create', { options: third.data.options })
  const thirdPasskey = await step('third_registration', () => client.passkey.verifyRegistration({
    challengeId: third.data.challenge_id, credential: thirdCredential }))
  await step('delete', () => client.passkey.delete({ passkeyId: thirdPasskey.id }))
  await signInWithPasskey('deleted_by_user', thirdCredential.rawId)

  const admin = newClient({ serviceRole: true }).admin
  await step('admin_list', () => admin.passkey.listPasskeys({ userId }))
  await step('admin_delete', () => admin.passkey.deletePasskey({
    userId, passkeyId: registered.id }))
  await step('admin_delete_again', () => admin.passkey.deletePasskey({
    userId, passkeyId: registered.id }))
  await step('admin_list_after', () => admin.passkey.listPasskeys({ userId }))
  await signInWithPasskey('deleted_by_admin', credential.rawId)
  await step('list_final', () => client.passkey.list())
}

async function mfa(setup) {
  const { email, password } = setup.mfa_user
  const relyingParty = { rpId: setup.rp_id, rpOrigins: [setup.origin] }

  await step('enroll_without_session', () => newClient().mfa.enroll({
    factorType: 'webauthn', friendlyName: 'Security key' }))
  const client = await signedIn(email, password)
  await step('enroll_unnamed', () => client.mfa.enroll({ factorType: 'webauthn',
                                                         friendlyName: '' }))
  await step('challenge_bad_factor', () => client.mfa.challenge({
    factorId: 'not-a-factor', webauthn: relyingParty }))
  await step('challenge_unknown_factor', () => client.mfa.challenge({
    factorId: NIL_UUID, webauthn: relyingParty }))

  const factor = await step('enroll', () => client.mfa.enroll({
    factorType: 'webauthn', friendlyName: 'Security key' }))
  const creating = await step('challenge_create', () => client.mfa.challenge({
    factorId: factor.id, webauthn: relyingParty }))
  results.challenge_create_options = asJSON(creating.webauthn.credential_options.publicKey)
  const created = await authenticator('create',
                                      { options: results.challenge_create_options })
  await step('verify_create', () => client.mfa.verify({
    factorId: factor.id, challengeId: creating.id,
    webauthn: { type: 'create', ...relyingParty,
                credential_response: browserCredential(created) } }))
  await step('aal_after_create', () => client.mfa.getAuthenticatorAssuranceLevel())

  const again = await signedIn(email, password)
  await step('aal_before_request', () => again.mfa.getAuthenticatorAssuranceLevel())
  const requesting = await step('challenge_request', () => again.mfa.challenge({
    factorId: factor.id, webauthn: relyingParty }))
  results.challenge_request_options = asJSON(requesting.webauthn.credential_options.publicKey)
  const used = await authenticator('get', { options: results.challenge_request_options,
                                            credential_id: created.rawId })
  await step('verify_request', () => again.mfa.verify({
    factorId: factor.id, challengeId: requesting.id,
    webauthn: { type: 'request', ...relyingParty,
                credential_response: browserCredential(used) } }))
  await step('aal_after_request', () => again.mfa.getAuthenticatorAssuranceLevel())
  await step('factors', () => again.mfa.listFactors())
  results.factor_id = factor.id
}

const scenarios = { passkeys, mfa }
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`)
  await scenarios[scenario](await authenticator('setup'))
} catch (error) {
  // What ran so far helps more than the stack alone.
  console.error(JSON.stringify(results, null, 1))
  console.error(error?.stack ?? String(error))
  process.exit(1)
}
console.log(JSON.stringify(results))
