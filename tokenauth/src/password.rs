//! Password hashing with Argon2id (RustCrypto `argon2`, OWASP's default parameters) on a fixed
//! set of worker threads behind a bounded queue; verification of Argon2 PHC strings and, with
//! the `django` feature, of Django's hash formats (`django`), and their upgrade to Argon2id
//! on a successful login. Without the feature, a hash in one of Django's formats
//! (`format`) never matches: it is refused as a wrong password, and the first one a process
//! meets is logged with what to enable.
//!
//! Each Argon2 computation needs its memory cost in RAM (19 MiB by default). Hashing on
//! tokio's blocking pool would let a burst of logins run as many computations at once as the
//! pool has threads (512), and the allocator keeps a block per thread that ever hashed. Here
//! at most `workers` computations run at once, each worker allocates its Argon2 memory once
//! and reuses it, and a login that cannot get a worker within the wait limit fails with
//! [`Error::Overloaded`] (`503` + `Retry-After`) instead of piling up. Peak memory is bounded
//! by `workers × memory cost`, whatever the number of requests.

use std::panic::{AssertUnwindSafe, catch_unwind};
#[cfg(not(feature = "django"))]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use rand::TryRng as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use zeroize::Zeroizing;

use crate::error::Error;

#[cfg(feature = "django")]
mod django;
mod format;

#[cfg(feature = "django")]
pub(crate) use django::pbkdf2_iterations;
use format::Format;
pub(crate) use format::{hasher_name, is_djangos_verified_hasher};

/// Whether a stored hash is one this build can verify (an Argon2 PHC string within the
/// limits, or, with the `django` feature, one of Django's supported formats), so that some
/// password can match it.
pub(crate) fn can_verify(stored: Option<&str>) -> bool {
    match stored.map(Format::of) {
        Some(Format::Phc { phc, .. }) => Stored::parse(phc).is_some(),
        #[cfg(feature = "django")]
        Some(Format::Legacy(_)) => true,
        #[cfg(not(feature = "django"))]
        Some(Format::Django { .. }) => false,
        Some(Format::Unusable) | None => false,
    }
}

/// Argon2 verifications performed by this process, so tests can check structurally that a
/// wrong username costs the same work as a wrong password.
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many password verifications this process has run.
pub(crate) fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// Argon2 computations (hashes and verifications, dummy ones included) run by this process.
static ARGON2_COMPUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many Argon2 computations this process has run.
pub(crate) fn argon2_computations() -> u64 {
    ARGON2_COMPUTATIONS.load(Ordering::Relaxed)
}

/// The most Argon2 memory one verification may use (KiB, i.e. 1 KiB blocks), and the most work
/// (memory × passes): a stored hash asking for more never matches — it is verified as a
/// dummy instead, costing the usual work — so a corrupt or hostile row can make a worker
/// neither allocate nor compute without bound. Django's own Argon2 defaults (100 MiB, 2
/// passes) are within both.
pub(crate) const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_WORK: u64 = 4 * MAX_MEMORY_KIB as u64;

/// The Argon2id cost of new hashes (see [`Policy::argon2`](crate::Policy::argon2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) parallelism: u32,
}

impl Default for Cost {
    /// OWASP's recommendation, RustCrypto's default: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Cost {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

impl Cost {
    /// Checked: within what a verification accepts ([`MAX_MEMORY_KIB`], the work limit).
    pub(crate) fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, Error> {
        let cost = Cost {
            memory_kib,
            iterations,
            parallelism,
        };
        let work = u64::from(memory_kib) * u64::from(iterations);
        if memory_kib > MAX_MEMORY_KIB || work > MAX_WORK || parallelism > 16 {
            return Err(Error::PasswordHash(format!(
                "Argon2 parameters over tokenauth's limits ({MAX_MEMORY_KIB} KiB, \
                 {MAX_WORK} KiB × passes, 16 lanes)"
            )));
        }
        cost.params()?;
        Ok(cost)
    }

    fn params(&self) -> Result<Params, Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|err| Error::PasswordHash(format!("invalid Argon2 parameters: {err}")))
    }

    /// Whether a stored Argon2 hash is weaker than this cost (or not Argon2id version 0x13):
    /// it is rehashed on the next successful login.
    fn is_stronger_than(&self, hash: &Stored) -> bool {
        let output = hash.hash.hash.as_ref().map_or(0, |out| out.len());
        hash.algorithm != Algorithm::Argon2id
            || hash.version != Version::V0x13
            || hash.params.m_cost() < self.memory_kib
            || hash.params.t_cost() < self.iterations
            || output < Params::DEFAULT_OUTPUT_LEN
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verified {
    /// Whether the password matches.
    pub(crate) matched: bool,
    /// When it matched a hash that is not the current policy's (Django's formats, weaker
    /// Argon2): the password hashed afresh, to store in its place (Django's `must_update`).
    pub(crate) upgrade: Option<String>,
}

/// How many password computations may run and wait at once (see [`Policy::password_hashing`](crate::Policy::password_hashing)),
/// and the cost of new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Worker threads; `None`: one per CPU.
    pub(crate) workers: Option<usize>,
    /// Logins allowed to wait for a worker, beyond those running.
    pub(crate) queue: usize,
    /// How long a login waits for a worker before [`Error::Overloaded`].
    pub(crate) max_wait: Duration,
    /// The Argon2id cost of new hashes.
    pub(crate) cost: Cost,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: None,
            queue: 64,
            max_wait: Duration::from_secs(3),
            cost: Cost::default(),
        }
    }
}

impl Limits {
    fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

/// A computation in a worker's memory, answering its caller itself.
type Task = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Job {
    task: Task,
    /// Released by the worker when the job is done, so a caller that gives up (a dropped
    /// request) does not let more computations run than there are workers.
    _permit: OwnedSemaphorePermit,
}

/// The workers of one [`Store`](crate::Store) (and its clones): started on first use, stopped
/// when the last clone is dropped.
pub(crate) struct Hasher {
    limits: Limits,
    pool: OnceLock<Pool>,
}

struct Pool {
    jobs: Mutex<Sender<Job>>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// How many password checks are waiting for a worker now.
    pub(crate) fn waiting(&self) -> usize {
        self.pool
            .get()
            .map_or(0, |pool| pool.waiting.load(Ordering::Relaxed))
    }

    pub(crate) fn new(limits: Limits) -> Self {
        Hasher {
            limits,
            pool: OnceLock::new(),
        }
    }

    /// Hashes a password into an Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = zeroizing(password);
        let cost = self.limits.cost;
        let kept = self.kept_blocks();
        self.run(move |memory| {
            let hash = hash_with(&password, memory, cost);
            shrink(memory, kept);
            hash
        })
        .await
    }

    /// Checks a password against a stored hash: an Argon2 PHC string or one of Django's
    /// formats. `None` (no usable password, or no such user), an unusable, unknown or
    /// over-limit hash still cost one full verification against a fixed dummy hash, so that a
    /// wrong username takes as long as a wrong password. A match against a hash that is not
    /// the policy's Argon2id comes with its replacement, computed in the same job.
    ///
    /// With `pad_like_django` (the store holds PBKDF2 hashes imported from Django), a failed
    /// check costs at least one Argon2id computation *and* Django's 1,000,000 PBKDF2
    /// iterations, whichever the hash — none, Argon2id or PBKDF2 — so that a failure does not
    /// tell an unknown user from a migrated one or from one not yet migrated.
    pub(crate) async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
        pad_like_django: bool,
    ) -> Result<Verified, Error> {
        let password = zeroizing(password);
        let cost = self.limits.cost;
        let kept = self.kept_blocks();
        self.run(move |memory| {
            let verified = verify_with(&password, stored.as_deref(), memory, cost, pad_like_django);
            shrink(memory, kept);
            verified
        })
        .await
    }

    /// The memory a worker keeps between jobs: what the policy's own hashes need. A job that
    /// needs more allocates it and gives it back when done.
    fn kept_blocks(&self) -> usize {
        self.limits.cost.memory_kib as usize
    }

    fn pool(&self) -> &Pool {
        self.pool.get_or_init(|| start(self.limits.worker_count()))
    }

    /// Runs `work` on a worker once one is free (waiting within the limits).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let pool = self.pool();
        let permit = match Arc::clone(&pool.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = Waiting::enter(&pool.waiting);
                if waiting.ahead >= self.limits.queue {
                    return Err(Error::Overloaded);
                }
                let acquire = Arc::clone(&pool.permits).acquire_owned();
                match tokio::time::timeout(self.limits.max_wait, acquire).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_closed)) => return Err(no_workers()),
                    Err(_elapsed) => return Err(Error::Overloaded),
                }
            }
        };
        let (reply, answer) = oneshot::channel();
        let task: Task = Box::new(move |memory| {
            let _ = reply.send(work(memory)); // the caller may have given up
        });
        let job = Job {
            task,
            _permit: permit,
        };
        pool.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| no_workers())?;
        // No answer: the task panicked (the worker caught it and carries on).
        answer
            .await
            .map_err(|_| Error::PasswordHash("password hashing panicked".to_owned()))?
    }
}

/// Counts a caller waiting for a worker while it waits.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::AcqRel);
        Waiting { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

fn no_workers() -> Error {
    Error::PasswordHash("the password hashing threads are not running".to_owned())
}

/// Starts `count` worker threads (fewer if the OS refuses some; none answers every job with
/// an error).
fn start(count: usize) -> Pool {
    let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let mut started = 0;
    for index in 0..count {
        let receiver = Arc::clone(&receiver);
        let spawned = std::thread::Builder::new()
            .name(format!("tokenauth-argon2-{index}"))
            .spawn(move || work(&receiver));
        match spawned {
            Ok(_) => started += 1,
            Err(error) => {
                tracing::error!(%error, "tokenauth: cannot start a password hashing thread")
            }
        }
    }
    let permits = Arc::new(Semaphore::new(started));
    if started == 0 {
        permits.close();
    }
    Pool {
        jobs: Mutex::new(jobs),
        permits,
        waiting: AtomicUsize::new(0),
    }
}

/// A worker: runs jobs until the store is dropped, reusing one Argon2 memory buffer.
fn work(receiver: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return; // every sender is gone: the store was dropped
        };
        let Job { task, _permit } = job;
        if catch_unwind(AssertUnwindSafe(|| task(&mut memory))).is_err() {
            memory = Vec::new(); // in an unknown state: start afresh
        }
    }
}

/// `blocks` blocks of the worker's memory, growing it when a hash needs more.
fn blocks(memory: &mut Vec<Block>, blocks: usize) -> Result<&mut [Block], Error> {
    if memory.len() < blocks {
        memory
            .try_reserve_exact(blocks - memory.len())
            .map_err(|_| Error::Overloaded)?;
        memory.resize(blocks, Block::new());
    }
    Ok(&mut memory[..blocks])
}

/// Gives back what a large job grew the worker's memory to.
fn shrink(memory: &mut Vec<Block>, kept: usize) {
    if memory.len() > kept {
        memory.truncate(kept);
        memory.shrink_to_fit();
    }
}

fn hash_with(password: &str, memory: &mut Vec<Block>, cost: Cost) -> Result<String, Error> {
    let params = cost.params()?;
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::rngs::SysRng
        .try_fill_bytes(&mut salt)
        .map_err(|err| Error::Random(err.to_string()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let failed = |err: &dyn std::fmt::Display| Error::PasswordHash(err.to_string());
    let memory = blocks(memory, params.block_count())?;
    ARGON2_COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        .map_err(|err| failed(&err))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|err| failed(&err))?,
        salt: Some(Salt::new(&salt).map_err(|err| failed(&err))?),
        hash: Some(Output::new(&out).map_err(|err| failed(&err))?),
    };
    Ok(phc.to_string())
}

fn verify_with(
    password: &str,
    stored: Option<&str>,
    memory: &mut Vec<Block>,
    cost: Cost,
    pad_like_django: bool,
) -> Result<Verified, Error> {
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    // The work done so far, for the padding of a failure.
    let mut argon2_done = false;
    #[cfg(feature = "django")]
    let mut pbkdf2_done = false;
    // (matched, whether a match must be rehashed); `None`: no usable hash.
    let checked = match stored.map(Format::of) {
        Some(Format::Phc { phc, django }) => match Stored::parse(phc) {
            Some(hash) => {
                argon2_done = true;
                let matched = hash.matches(password, memory)?;
                Some((matched, django || cost.is_stronger_than(&hash)))
            }
            None => None,
        },
        #[cfg(feature = "django")]
        Some(Format::Legacy(legacy)) => {
            let matched = legacy.matches(password);
            if !matched {
                legacy.harden(password);
            }
            pbkdf2_done = legacy.is_pbkdf2();
            Some((matched, true))
        }
        #[cfg(not(feature = "django"))]
        Some(Format::Django { hasher }) => {
            unverifiable(hasher, &UNVERIFIABLE_LOGGED);
            None
        }
        Some(Format::Unusable) | None => None,
    };
    let (matched, outdated) = match checked {
        Some(checked) => checked,
        None => {
            // A missing, unusable, unknown or over-limit hash never matches, and costs the
            // same work as a real one: the dummy hash's.
            dummy_verification(password, memory)?;
            argon2_done = true;
            (false, false)
        }
    };
    if !matched && pad_like_django && !argon2_done {
        dummy_verification(password, memory)?;
    }
    #[cfg(feature = "django")]
    if !matched && pad_like_django && !pbkdf2_done {
        django::pbkdf2_like_django(password);
    }
    let upgrade = if matched && outdated {
        Some(hash_with(password, memory, cost)?)
    } else {
        None
    };
    Ok(Verified { matched, upgrade })
}

/// Whether this process has logged a hash it cannot verify for want of the `django` feature.
#[cfg(not(feature = "django"))]
static UNVERIFIABLE_LOGGED: AtomicBool = AtomicBool::new(false);

/// A password checked against a hash in one of Django's formats, in a build without the
/// `django` feature: it is refused as a wrong password would be (the caller verifies the dummy
/// hash instead: the same work). The first in a process (`logged`) is a warning saying why
/// and what to enable — it is the application's build, not the client, that is wrong — and
/// the rest are logged at debug level.
#[cfg(not(feature = "django"))]
fn unverifiable(hasher: &str, logged: &AtomicBool) {
    if logged.swap(true, Ordering::Relaxed) {
        tracing::debug!(
            hasher,
            "tokenauth: refused a password against a hash in Django's format (feature `django` off)"
        );
    } else {
        tracing::warn!(
            hasher,
            "tokenauth: the users table holds password hashes in Django's formats (here \
             `{hasher}`), which this build cannot verify: their users' logins are refused as \
             wrong passwords. Enable tokenauth's `django` feature to verify them (and upgrade \
             them to Argon2id at the next login). Logged once."
        );
    }
}

/// One Argon2id verification against a fixed dummy hash: the cost of a real one.
fn dummy_verification(password: &str, memory: &mut Vec<Block>) -> Result<(), Error> {
    let dummy = dummy_hash(memory)?;
    let dummy = Stored::parse(dummy)
        .ok_or_else(|| Error::PasswordHash("the dummy hash is unusable".to_owned()))?;
    dummy.matches(password, memory)?;
    Ok(())
}

/// A stored Argon2 hash, parsed and within the limits.
struct Stored {
    hash: PasswordHash,
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl Stored {
    fn parse(phc: &str) -> Option<Self> {
        let hash = PasswordHash::new(phc).ok()?;
        hash.salt.as_ref()?;
        hash.hash.as_ref()?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
        if params.m_cost() > MAX_MEMORY_KIB || work > MAX_WORK {
            return None;
        }
        Some(Stored {
            hash,
            algorithm,
            version,
            params,
        })
    }

    /// Whether `password` matches, computed in the worker's memory.
    fn matches(&self, password: &str, memory: &mut Vec<Block>) -> Result<bool, Error> {
        let (Some(salt), Some(expected)) = (&self.hash.salt, &self.hash.hash) else {
            return Ok(false);
        };
        let mut out = [0u8; Output::MAX_LENGTH];
        let Some(out) = out.get_mut(..expected.len()) else {
            return Ok(false);
        };
        let memory = blocks(memory, self.params.block_count())?;
        ARGON2_COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
        let computed = Argon2::new(self.algorithm, self.version, self.params.clone())
            .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), out, memory);
        if computed.is_err() {
            return Ok(false);
        }
        // `Output`'s equality is constant-time.
        Ok(Output::new(out).is_ok_and(|out| out == *expected))
    }
}

/// A hash of a random password, computed once, verified in place of a missing user's hash.
fn dummy_hash(memory: &mut Vec<Block>) -> Result<&'static str, Error> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let password = crate::key::Key::generate()?;
    let hash = hash_with(password.expose_secret(), memory, Cost::default())?;
    Ok(DUMMY.get_or_init(|| hash))
}

fn zeroizing(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.to_owned())
}

/// The work password checks have cost this process, for tests (tokenauth's own suite) that
/// check it structurally. Not public API: hidden, and it may change in any release.
#[doc(hidden)]
pub mod testing {
    /// How many Argon2 password verifications this process has run (for tests that check that
    /// a wrong username costs the same work as a wrong password).
    pub fn password_verifications() -> u64 {
        super::verifications()
    }

    /// How many Argon2 computations (hashes, verifications, dummy ones) this process has run.
    pub fn argon2_computations() -> u64 {
        super::argon2_computations()
    }

    /// How many PBKDF2 iterations Django-format password checks in this process have run (for
    /// tests that check Django's `harden_runtime`).
    #[cfg(feature = "django")]
    pub fn pbkdf2_iterations() -> u64 {
        super::pbkdf2_iterations()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier as _;

    /// The tests of this module that hash, one at a time: one of them counts the process's
    /// verifications.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn hasher() -> Hasher {
        Hasher::new(Limits::default())
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let _serial = SERIAL.lock().await;
        let hasher = hasher();
        let phc = hasher.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(
            hasher
                .verify("correct horse", Some(phc.clone()), false)
                .await
                .unwrap()
                .matched
        );
        assert!(
            !hasher
                .verify("Correct horse", Some(phc.clone()), false)
                .await
                .unwrap()
                .matched
        );
        // The reference implementation agrees with the workers' output.
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", phc.as_str())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn hashes_from_the_reference_implementation_verify() {
        let _serial = SERIAL.lock().await;
        use argon2::PasswordHasher as _;
        let hasher = hasher();
        let params = Params::new(8 * 1024, 1, 2, Some(40)).unwrap();
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"s3cret")
            .unwrap()
            .to_string();
        let verified = hasher
            .verify("s3cret", Some(phc.clone()), false)
            .await
            .unwrap();
        assert!(verified.matched);
        // Argon2i version 0x10 with 8 MiB: rehashed as the policy's Argon2id.
        let upgrade = verified.upgrade.expect("an outdated hash is upgraded");
        assert!(
            upgrade.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{upgrade}"
        );
        assert!(
            hasher
                .verify("s3cret", Some(upgrade.clone()), false)
                .await
                .unwrap()
                .matched
        );
        assert_eq!(
            hasher
                .verify("s3cret", Some(upgrade), false)
                .await
                .unwrap()
                .upgrade,
            None
        );
        let wrong = hasher.verify("s3creT", Some(phc), false).await.unwrap();
        assert_eq!(
            wrong,
            Verified {
                matched: false,
                upgrade: None
            }
        );
    }

    #[tokio::test]
    async fn missing_corrupt_or_oversized_hashes_never_match() {
        let _serial = SERIAL.lock().await;
        let hasher = hasher();
        assert!(!hasher.verify("", None, false).await.unwrap().matched);
        assert!(
            !hasher
                .verify("x", Some("not a phc string".into()), false)
                .await
                .unwrap()
                .matched
        );
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(
            !hasher
                .verify("x", Some(huge.into()), false)
                .await
                .unwrap()
                .matched
        );
        let endless = "$argon2id$v=19$m=19456,t=4294967295,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let before = verifications();
        assert!(
            !hasher
                .verify("x", Some(endless.into()), false)
                .await
                .unwrap()
                .matched
        );
        assert_eq!(
            verifications() - before,
            1,
            "verified as a dummy, with the usual work"
        );
    }

    #[tokio::test]
    async fn salts_differ() {
        let _serial = SERIAL.lock().await;
        let hasher = hasher();
        assert_ne!(
            hasher.hash("same").await.unwrap(),
            hasher.hash("same").await.unwrap()
        );
    }

    /// Django's hashes of their passwords, one per hasher tokenauth verifies with the `django`
    /// feature (made by Django 5.2: `tests/fixtures/django_hashes.json`).
    #[cfg(not(feature = "django"))]
    const DJANGO_HASHES: [(&str, &str); 5] = [
        (
            "nbmE5C1n09qb_AvtqHzotg2cVe0ViH5ch3Kaij4JT3g",
            "pbkdf2_sha256$1000000$hcImJH0GUtbNMeRV6j71MH$2VQWywLwRiC9QMX4WLaWAyQDcdareVWJTkhDtlvNXWU=",
        ),
        (
            "gQns0nyiC7kk27Wcj6PFaabPsUWVS2CE0e4yblNK57E",
            "pbkdf2_sha1$1000000$jqwdHB6ytVwYXgYJVNSGgh$f88FD4us3371gJphbeyAOsb0E44=",
        ),
        (
            "Pn0t4Fa1QpFW89VEsJnWjG9QW9JBPp16uUK2wETDYy0",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$SUFOa0F3dmpzNjNNTXJkeTI1S0tDSQ$0jh8SBxiWZxKMEMPso5tFmyGZP6v8g6vmLTNZO0dBTQ",
        ),
        (
            "B-GP5aZx6MH5ZGgKWSTuTAV6WYbwg3iRuXyXqTfYWVM",
            "bcrypt_sha256$$2b$12$RyUNInUxtZ6qEHSKE0G3iOdBXF4Zgxz72iPF.ZFWzOiRgh86oZsaC",
        ),
        (
            "Xqug0hcfygjBeA962wyScPWryCdX6fidCsAOIYsPazo",
            "scrypt$16384$pI0lMCI5u726nmigwYCFsf$8$5$WkCO3kCTFxCH5EFpqLnt4uJMETk269JtpZgpGiLcMeoU6DNdQl3ccRFwKcUibT3/EI6akKFrEtQpNxC6vo+eEQ==",
        ),
    ];

    /// Without the `django` feature, Django's hashes never match, even with the right
    /// password: each check costs what a wrong password costs (one Argon2 verification, of
    /// the dummy hash), and nothing is to be stored in its place.
    #[cfg(not(feature = "django"))]
    #[tokio::test]
    async fn without_django_djangos_hashes_never_match() {
        let _serial = SERIAL.lock().await;
        let hasher = hasher();
        hasher.verify("warm up", None, false).await.unwrap(); // computes the dummy hash
        for (password, stored) in DJANGO_HASHES {
            let before = (verifications(), argon2_computations());
            let verified = hasher
                .verify(password, Some(stored.to_owned()), false)
                .await
                .unwrap();
            assert_eq!(
                verified,
                Verified {
                    matched: false,
                    upgrade: None
                },
                "{stored}"
            );
            assert_eq!(
                (verifications() - before.0, argon2_computations() - before.1),
                (1, 1),
                "{stored}: the work of a wrong password"
            );
        }
    }

    /// A store built without `django` that opens a database holding Django's hashes (imported
    /// by a build with it) refuses their users' passwords as wrong ones — `check_password` and
    /// `login` say `None`, no token is issued — and leaves the hashes as they are.
    #[cfg(all(not(feature = "django"), feature = "sqlite"))]
    #[tokio::test]
    async fn without_django_a_store_refuses_djangos_hashes_like_wrong_passwords() {
        let _serial = SERIAL.lock().await;
        let store = crate::store::Store::connect("sqlite::memory:")
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let pool = store.sqlite_pool().unwrap().clone();
        let alice = store
            .create_user("alice", Some("correct horse"))
            .await
            .unwrap();
        let wrong_password = async || {
            let computations = argon2_computations();
            assert_eq!(store.check_password("alice", "wrong").await.unwrap(), None);
            argon2_computations() - computations
        };
        wrong_password().await; // computes the dummy hash
        let usual = wrong_password().await;
        for (number, (password, stored)) in DJANGO_HASHES.into_iter().enumerate() {
            let username = format!("django{number}");
            let user = store.create_user(&username, None).await.unwrap();
            sqlx::query("UPDATE tokenauth_users SET password_hash = $1 WHERE id = $2")
                .bind(stored)
                .bind(user.id)
                .execute(&pool)
                .await
                .unwrap();
            let computations = argon2_computations();
            assert_eq!(
                store.check_password(&username, password).await.unwrap(),
                None,
                "{stored}"
            );
            assert_eq!(argon2_computations() - computations, usual, "{stored}");
            let login = store
                .login(&username, password, crate::models::NewToken::default())
                .await
                .unwrap();
            assert!(login.is_none(), "{stored}");
            assert!(store.tokens().list(user.id).await.unwrap().is_empty());
            let kept: Option<String> =
                sqlx::query_scalar("SELECT password_hash FROM tokenauth_users WHERE id = $1")
                    .bind(user.id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(kept.as_deref(), Some(stored), "not upgraded, not removed");
        }
        // tokenauth's own hashes verify as ever.
        assert_eq!(
            store
                .check_password("alice", "correct horse")
                .await
                .unwrap(),
            Some(alice)
        );

        // An import into this build keeps Django's hash, and says that it cannot verify it.
        let (password, stored) = DJANGO_HASHES[0];
        let report = store
            .import_users(&[crate::import::User {
                id: None,
                username: "imported".into(),
                password_hash: Some(stored.into()),
                is_active: true,
                date_joined: chrono::Utc::now(),
            }])
            .await
            .unwrap();
        let warning = crate::import::Warning::UnverifiablePassword {
            username: "imported".into(),
            hasher: "pbkdf2_sha256".into(),
        };
        assert_eq!(report.warnings, std::slice::from_ref(&warning));
        assert_eq!(
            warning.to_string(),
            "the password of user imported uses Django's `pbkdf2_sha256`, which this build of \
             tokenauth cannot verify: until it is built with the `django` feature, the user \
             cannot log in with it"
        );
        assert_eq!(
            store.check_password("imported", password).await.unwrap(),
            None
        );
    }

    /// Without `django`, the first Django hash a process meets is a warning naming the hasher
    /// and the feature to enable; later ones are debug lines.
    #[cfg(not(feature = "django"))]
    #[test]
    fn without_django_the_first_djangos_hash_is_logged_as_a_warning_once() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let logged = AtomicBool::new(false);
        let recorder = Recorder(Arc::clone(&events));
        tracing::subscriber::with_default(recorder, || {
            unverifiable("pbkdf2_sha256", &logged);
            unverifiable("scrypt", &logged);
            unverifiable("argon2", &logged);
        });
        let events = events.lock().unwrap();
        let levels: Vec<_> = events.iter().map(|(level, _)| *level).collect();
        assert_eq!(
            levels,
            [
                tracing::Level::WARN,
                tracing::Level::DEBUG,
                tracing::Level::DEBUG
            ]
        );
        let warning = &events[0].1;
        for said in [
            "hasher=pbkdf2_sha256",
            "Django's formats (here `pbkdf2_sha256`)",
            "refused as wrong passwords",
            "Enable tokenauth's `django` feature",
        ] {
            assert!(warning.contains(said), "{said:?} in {warning}");
        }
        assert!(events[1].1.contains("hasher=scrypt"), "{}", events[1].1);
    }

    /// A `tracing` subscriber recording each event's level and text (its message, then its
    /// other fields as `name=value`).
    #[cfg(not(feature = "django"))]
    struct Recorder(Arc<Mutex<Vec<(tracing::Level, String)>>>);

    #[cfg(not(feature = "django"))]
    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Text(String);
            impl tracing::field::Visit for Text {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        self.0.insert_str(0, &format!("{value:?}"));
                    } else {
                        self.0.push_str(&format!(" {}={value:?}", field.name()));
                    }
                }
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    self.record_debug(field, &format_args!("{value}"));
                }
            }
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), text.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn excess_work_waits_then_is_refused() {
        let _serial = SERIAL.lock().await;
        let hasher = Arc::new(Hasher::new(Limits {
            workers: Some(1),
            queue: 2,
            max_wait: Duration::from_millis(1),
            cost: Cost::default(),
        }));
        let phc = hasher.hash("pw").await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (hasher, phc) = (Arc::clone(&hasher), phc.clone());
                tokio::spawn(async move { hasher.verify("pw", Some(phc), false).await })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(verified) => assert!(verified.matched),
                Err(Error::Overloaded) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(
            refused >= 1,
            "one worker, a 1 ms wait: some of 8 must be refused"
        );
    }
}
