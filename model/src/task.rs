//! One-word shared pointers to task allocations, and the tasks' wakers, on every backend.
//!
//! The runtime keeps a task in one allocation: a header that every part of the runtime reads, and
//! a body (the future) whose type differs from task to task. One pointer type has to name every
//! task, so the body's type is erased. Erasing it with an unsizing coercion
//! (`Arc<Cell<dyn Body>>`) gives a fat pointer, and every dereference of a fat pointer computes
//! where the header starts from the body's alignment, read from the vtable (LLVM does not hoist
//! it): per task step that was about thirty instructions, and every holder (the loop's registry,
//! the ready queue, the handles) paid a second word.
//!
//! [`ThinArc`] is one word instead: a pointer to the allocation's start, where the header lies at
//! offset 0, followed by a `&'static` table of plain functions made for the body's type (taking a
//! reference, dropping one, reaching the body, the waker's four), then the body:
//!
//! ```text
//! Arc's counts | header H | vtable | body B
//!              ^ ThinArc points here (and so does every task waker's data)
//! ```
//!
//! The allocation is an ordinary `Arc` of the typed value, made by the backend's `Arc` (loom's
//! under loom, so loom keeps tracking every reference: a count that is never given back is
//! reported as a leaked `Arc` at the end of each model, see the `thin_rc_leak` bug). A `ThinArc`
//! owns one strong count of it: made with `Arc::into_raw`, cloned with
//! `Arc::increment_strong_count` and given back with `Arc::from_raw`, each through the table,
//! which knows the typed `Arc`.
//!
//! The task's waker is made from the same pointer: its data is the allocation's start and its
//! functions (a `RawWakerVTable`, part of the body type's table) are the `ThinArc`'s own
//! operations, so a waker clone is one more strong count of the typed `Arc`, a wake hands the
//! waker's count to [`Wake::wake`] as a `ThinArc`, and a drop gives it back. Nothing is stored in
//! the task for it: [`ThinArc::with_waker`] lends a poll a waker made on the stack over the
//! pointer the poller holds (no count traffic), and only clones own a count. Every waker's count
//! is one of the backend's `Arc` counts, so under loom too a waker that is never given back is
//! reported as a leak (the `waker_leak` bug), and a waker can be told to be a given task's
//! ([`ThinArc::is_waker_of`]) on every backend.
//!
//! This module holds the `unsafe` code the pointer needs (each block says why it is sound); the
//! runtime builds on its safe API. The body is reached only as a shared reference
//! ([`ThinArc::body`]) and never moved: nothing here gives it out by value or as `&mut`, which is
//! what the runtime's pinning of the future in the body relies on.

use crate::bug::{self, Bug};
use crate::sync::Arc;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::task::{RawWaker, RawWakerVTable, Waker};

/// A task header: what a task's waker calls, and the erased type of its body.
pub trait Wake: Sized + Send + Sync + 'static {
    /// The body as every holder of a [`ThinArc`] sees it (e.g. a lock around a trait object).
    type Body: ?Sized + Sync;

    /// Called by `Waker::wake` with the reference the waker held, from any thread.
    fn wake(this: ThinArc<Self>);

    /// Called by `Waker::wake_by_ref`, from any thread. `to_owned` makes a new reference, for
    /// when one is needed.
    fn wake_by_ref(this: &Self, to_owned: impl FnOnce() -> ThinArc<Self>);
}

/// A typed body that erases to its header's [`Wake::Body`].
pub trait Erase<H: Wake>: Send + Sync + Sized + 'static {
    /// The unsizing coercion to the erased body; implement it as `self`.
    fn erase(&self) -> &H::Body;
}

/// The allocation: header first, then the table, then the body. `repr(C)`, so that the header
/// and the table lie where [`Prefix`] says whatever the body is.
#[repr(C)]
struct Alloc<H: Wake, B> {
    header: H,
    vtable: &'static VTable<H>,
    body: B,
}

/// The part of every [`Alloc<H, _>`] that does not depend on the body: in `repr(C)` a field's
/// offset depends only on the fields before it, so these two are at the same offsets in every
/// `Alloc<H, B>`. Never made, only pointed to.
#[repr(C)]
struct Prefix<H: Wake> {
    header: H,
    vtable: &'static VTable<H>,
}

/// What a [`ThinArc`] and the task's wakers need to know of the body's type, made once per body
/// type.
struct VTable<H: Wake> {
    /// The wakers' functions. Every waker carries a pointer to this field of the table its
    /// allocation stores, never to a copy of the constant, so all wakers of one task have the
    /// same vtable pointer and `Waker::will_wake` recognises them.
    waker: RawWakerVTable,
    clone: fn(&ThinArc<H>) -> ThinArc<H>,
    /// Gives back the count the pointer owns; see [`drop_ref`].
    drop: unsafe fn(NonNull<Prefix<H>>),
    body: fn(&ThinArc<H>) -> &H::Body,
}

/// The table for body type `B`, as a constant so that a reference to it is `'static`.
struct VTableOf<H, B>(PhantomData<(H, B)>);

impl<H: Wake, B: Erase<H>> VTableOf<H, B> {
    const VTABLE: VTable<H> = VTable {
        waker: RawWakerVTable::new(
            waker_clone::<H, B>,
            waker_wake::<H>,
            waker_wake_by_ref::<H, B>,
            waker_drop::<H, B>,
        ),
        clone: clone_ref::<H, B>,
        drop: drop_ref::<H, B>,
        body: body_of::<H, B>,
    };
}

/// A shared pointer to a task allocation, one word wide: it owns one strong count of the typed
/// `Arc` and derefs to the header without computing any offset. `Option<ThinArc<H>>` is one word
/// too.
pub struct ThinArc<H: Wake> {
    /// Points at the start of an `Alloc<H, B>` inside an `Arc`, made by `Arc::into_raw` (so it
    /// carries the whole allocation's provenance), whose table is `B`'s. Valid while this
    /// pointer lives: it owns one strong count.
    ptr: NonNull<Prefix<H>>,
    /// Owns (a share of) an `H` and a body.
    _owns: PhantomData<H>,
}

// SAFETY: a `ThinArc<H>` is an `Arc<Alloc<H, B>>` with its body type erased, and it gives out
// only what that `Arc` does (shared references to the header and to the erased body, clones,
// the drop, wakers that do the same). That `Arc` is `Send` and `Sync` when `Alloc<H, B>` is
// both: `H` is (a bound of `Wake`), `B` is (a bound of `Erase`, required by `ThinArc::new`, the
// only way to make one), and the table holds plain function pointers.
#[allow(unsafe_code)]
unsafe impl<H: Wake> Send for ThinArc<H> {}

// SAFETY: as for `Send` above.
#[allow(unsafe_code)]
unsafe impl<H: Wake> Sync for ThinArc<H> {}

impl<H: Wake> ThinArc<H> {
    /// Moves `header` and `body` into a new shared allocation and returns the thin pointer to
    /// it.
    pub fn new<B: Erase<H>>(header: H, body: B) -> Self {
        let typed = Arc::new(Alloc {
            header,
            vtable: &VTableOf::<H, B>::VTABLE,
            body,
        });
        let raw = Arc::into_raw(typed).cast_mut().cast::<Prefix<H>>();
        ThinArc {
            ptr: NonNull::new(raw).expect("`Arc::into_raw` is never null"),
            _owns: PhantomData,
        }
    }

    /// Takes over the count a waker owned.
    ///
    /// # Safety
    /// `data` is the data pointer of a waker made by this module (so a `ThinArc`'s `ptr`), and
    /// the count that waker owns is handed over: the waker is not used again.
    #[allow(unsafe_code)]
    unsafe fn from_waker_data(data: *const ()) -> Self {
        ThinArc {
            // SAFETY: a waker's data is a `ThinArc`'s pointer, which is never null.
            ptr: unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Prefix<H>>()) },
            _owns: PhantomData,
        }
    }

    /// A `ThinArc` for a waker's count that must not be given back: for the waker functions that
    /// only borrow the waker.
    ///
    /// # Safety
    /// `data` is the data pointer of a waker made by this module, live for as long as the result
    /// is used (it or the pointer it borrows owns a count).
    #[allow(unsafe_code)]
    unsafe fn borrow_waker_data(data: *const ()) -> ManuallyDrop<Self> {
        // SAFETY: see this function's contract; the `ManuallyDrop` keeps the count from being
        // given back.
        ManuallyDrop::new(unsafe { ThinArc::from_waker_data(data) })
    }

    #[allow(unsafe_code)]
    fn vtable(&self) -> &'static VTable<H> {
        // SAFETY: `ptr` points at a live `Alloc<H, B>` (this pointer owns a count), whose table
        // is at `Prefix`'s offset (see `Prefix`); the field is read through a raw place, without
        // a reference to the whole prefix, which could overlap the body where another thread
        // may hold a `&mut` (through the body's lock). The field is never written after the
        // allocation is made.
        unsafe { ptr::addr_of!((*self.ptr.as_ptr()).vtable).read() }
    }

    /// The erased body. Shared access only: the body is never moved or handed out by value.
    pub fn body(&self) -> &H::Body {
        (self.vtable().body)(self)
    }

    /// The waker over this pointer, not yet owning a count of its own.
    fn raw_waker(&self) -> RawWaker {
        RawWaker::new(self.ptr.as_ptr().cast_const().cast(), &self.vtable().waker)
    }

    /// Runs `f` with a waker for this allocation lent for the call: made on the stack, it takes
    /// no count (the count `self` owns keeps the allocation alive for the call) and is never
    /// dropped. Its clones own counts of their own.
    #[allow(unsafe_code)]
    pub fn with_waker<R>(&self, f: impl FnOnce(&Waker) -> R) -> R {
        // SAFETY: the functions in the table keep `RawWaker`'s contract for a data pointer that
        // is a live allocation's start (see `waker_clone` and below), from any thread (the
        // allocation is `Send` and `Sync`, see `ThinArc`'s `Send`). This waker owns no count, so
        // it must not be dropped nor woken by value: it is in a `ManuallyDrop` that is never
        // dropped, and `f` gets only a shared reference to it (`wake` needs the waker by value;
        // `clone` and `wake_by_ref` only borrow it). The allocation outlives it: `self` is
        // borrowed for the whole call and owns a count.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(self.raw_waker()) });
        f(&waker)
    }

    /// A waker for this allocation that owns a count of its own.
    pub fn waker(&self) -> Waker {
        self.with_waker(Waker::clone)
    }

    /// True when `waker` is a waker of this allocation, whatever `Context` carries it.
    pub fn is_waker_of(&self, waker: &Waker) -> bool {
        ptr::eq(waker.data(), self.ptr.as_ptr().cast_const().cast())
            && ptr::eq(waker.vtable(), &self.vtable().waker)
    }

    /// True when both point to the same allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }
}

impl<H: Wake> Deref for ThinArc<H> {
    type Target = H;

    #[allow(unsafe_code)]
    fn deref(&self) -> &H {
        // SAFETY: `ptr` points at a live `Alloc<H, B>` (this pointer owns a count, so the
        // allocation outlives the borrow of `self`) whose header is at offset 0 (see `Prefix`).
        // The header is only ever reached through shared references: the allocation is never
        // mutated except through the header's and the body's own interior mutability.
        unsafe { &*ptr::addr_of!((*self.ptr.as_ptr()).header) }
    }
}

impl<H: Wake> Clone for ThinArc<H> {
    fn clone(&self) -> Self {
        (self.vtable().clone)(self)
    }
}

impl<H: Wake> Drop for ThinArc<H> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the table is the one made for this allocation's body type, and this pointer
        // owns one count, which it gives back here, once: it is gone after this.
        unsafe { (self.vtable().drop)(self.ptr) }
    }
}

/// The typed allocation `this` points to. Only for the functions of `B`'s table.
#[allow(unsafe_code)]
fn typed<H: Wake, B: Erase<H>>(this: &ThinArc<H>) -> &Alloc<H, B> {
    // SAFETY: the table this is called through is `B`'s, and a table is only ever stored in an
    // `Alloc` of its own body type, so `ptr` points at a live `Alloc<H, B>` (the `ThinArc`
    // borrowed owns a count, so it lives as long as the returned reference).
    unsafe { this.ptr.cast::<Alloc<H, B>>().as_ref() }
}

/// A new pointer with a count of its own.
#[allow(unsafe_code)]
fn clone_ref<H: Wake, B: Erase<H>>(this: &ThinArc<H>) -> ThinArc<H> {
    // SAFETY: `this.ptr` was made by `Arc::into_raw` of an `Arc<Alloc<H, B>>` (see `new`; `B` is
    // the table's type) and `this` owns a count, so the allocation is alive; the count taken
    // here is the new pointer's.
    unsafe { Arc::increment_strong_count(this.ptr.as_ptr().cast::<Alloc<H, B>>()) };
    ThinArc {
        ptr: this.ptr,
        _owns: PhantomData,
    }
}

fn body_of<H: Wake, B: Erase<H>>(this: &ThinArc<H>) -> &H::Body {
    typed::<H, B>(this).body.erase()
}

/// Gives back one count; frees the allocation (dropping header and body in place) with the last.
///
/// # Safety
/// `ptr` is a [`ThinArc`]'s, made for an `Alloc<H, B>`, and that pointer's count is given back
/// here once and never used again.
#[allow(unsafe_code)]
unsafe fn drop_ref<H: Wake, B: Erase<H>>(ptr: NonNull<Prefix<H>>) {
    // SAFETY: see this function's contract: `ptr` came from `Arc::into_raw` of an
    // `Arc<Alloc<H, B>>` and owns the count this `Arc` gives back.
    let typed = unsafe { Arc::from_raw(ptr.as_ptr().cast_const().cast::<Alloc<H, B>>()) };
    if bug::enabled(Bug::ThinRcLeak) {
        // Injected: the count is never given back, so the task is never freed.
        std::mem::forget(typed);
        return;
    }
    drop(typed);
}

// The waker functions. Their common contract (`RawWakerVTable`'s): `data` is the data pointer of
// a waker made by this module (`ThinArc::raw_waker`: a `ThinArc`'s pointer, the start of a live
// `Alloc<H, B>` whose table is `B`'s), and the waker it belongs to owns a count, or (the borrowed
// waker of `with_waker`) is only lent while a `ThinArc` owning one is borrowed; `wake` and `drop`
// are only called on wakers that own their count, which they consume.

/// A new waker with a count of its own.
#[allow(unsafe_code)]
unsafe fn waker_clone<H: Wake, B: Erase<H>>(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `ThinArc`'s pointer (the waker functions' contract); borrowed
    // only, never dropped.
    let this = unsafe { ThinArc::<H>::borrow_waker_data(data) };
    // SAFETY: the pointer came from `Arc::into_raw` of an `Arc<Alloc<H, B>>` (the table, whose
    // function this is, is `B`'s) and the allocation is alive; the count taken here is the new
    // waker's.
    unsafe { Arc::increment_strong_count(data.cast::<Alloc<H, B>>()) };
    this.raw_waker()
}

/// The waker's count becomes the `ThinArc` that [`Wake::wake`] takes: no count traffic.
#[allow(unsafe_code)]
unsafe fn waker_wake<H: Wake>(data: *const ()) {
    // SAFETY: `wake` consumes a waker that owns its count (the contract above), handed over here.
    H::wake(unsafe { ThinArc::from_waker_data(data) })
}

#[allow(unsafe_code)]
unsafe fn waker_wake_by_ref<H: Wake, B: Erase<H>>(data: *const ()) {
    // SAFETY: `data` is a live `ThinArc`'s pointer (the contract above); borrowed only, never
    // dropped.
    let this = unsafe { ThinArc::<H>::borrow_waker_data(data) };
    H::wake_by_ref(&this, || clone_ref::<H, B>(&this))
}

/// Gives back the waker's count.
#[allow(unsafe_code)]
unsafe fn waker_drop<H: Wake, B: Erase<H>>(data: *const ()) {
    // SAFETY: `drop` consumes a waker that owns its count (the contract above): the count made
    // with `Arc::into_raw` of an `Arc<Alloc<H, B>>` (or taken with `increment_strong_count` on
    // it) is given back here, once.
    let typed = unsafe { Arc::from_raw(data.cast::<Alloc<H, B>>()) };
    if bug::enabled(Bug::WakerLeak) {
        // Injected: the waker's count is never given back, so the task is never freed.
        std::mem::forget(typed);
        return;
    }
    drop(typed);
}
