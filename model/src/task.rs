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
//! reference, dropping one, reaching the body), then the body:
//!
//! ```text
//! Arc's counts | header H | vtable | body B
//!              ^ ThinArc points here (and so does a std waker's data)
//! ```
//!
//! The allocation is an ordinary `Arc` of the typed value, made by the backend's `Arc` (loom's
//! under loom, so loom keeps tracking every reference: a count that is never given back is
//! reported as a leaked `Arc` at the end of each model, see the `thin_rc_leak` bug). A `ThinArc`
//! owns one strong count of it: made with `Arc::into_raw`, cloned with
//! `Arc::increment_strong_count` and given back with `Arc::from_raw`, each through the table,
//! which knows the typed `Arc`.
//!
//! The task's waker is made from the typed `Arc` (`std::task::Wake` needs a sized one): when it
//! fires, its reference becomes a `ThinArc` with `Arc::into_raw` (no reference count traffic)
//! and goes to [`Wake::wake`]. Under loom the waker is a small std-`Arc` adapter holding a clone
//! of the loom `Arc`, so loom still sees every reference a waker keeps alive.
//!
//! This module holds the `unsafe` code the pointer needs (each block says why it is sound); the
//! runtime builds on its safe API. The body is reached only as a shared reference
//! ([`ThinArc::body`]) and never moved: nothing here gives it out by value or as `&mut`, which is
//! what the runtime's pinning of the future in the body relies on.

use crate::bug::{self, Bug};
use crate::sync::Arc;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::task::Waker;

/// A task header: what a task's waker calls, and the erased type of its body.
pub trait Wake: Sized + Send + Sync + 'static {
    /// The body as every holder of a [`ThinArc`] sees it (e.g. a lock around a trait object).
    type Body: ?Sized + Sync;

    /// Called by `Waker::wake` with the reference the waker held (std and shuttle; under loom
    /// the waker's reference is an adapter's, so `wake_by_ref` is called instead), from any
    /// thread.
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

/// What a [`ThinArc`] needs to know of the body's type, made once per body type.
struct VTable<H: Wake> {
    clone: fn(&ThinArc<H>) -> ThinArc<H>,
    /// Gives back the count the pointer owns; see [`drop_ref`].
    drop: unsafe fn(NonNull<Prefix<H>>),
    body: fn(&ThinArc<H>) -> &H::Body,
    /// The allocation's size from the header on ([`ThinArc::contains`]).
    size: usize,
}

/// The table for body type `B`, as a constant so that a reference to it is `'static`.
struct VTableOf<H, B>(PhantomData<(H, B)>);

impl<H: Wake, B: Erase<H>> VTableOf<H, B> {
    const VTABLE: VTable<H> = VTable {
        clone: clone_ref::<H, B>,
        drop: drop_ref::<H, B>,
        body: body_of::<H, B>,
        size: std::mem::size_of::<Alloc<H, B>>(),
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
// the drop). That `Arc` is `Send` and `Sync` when `Alloc<H, B>` is both: `H` is (a bound of
// `Wake`), `B` is (a bound of `Erase`, required by `ThinArc::new`, the only way to make one), and
// the table holds plain function pointers and a size.
#[allow(unsafe_code)]
unsafe impl<H: Wake> Send for ThinArc<H> {}

// SAFETY: as for `Send` above.
#[allow(unsafe_code)]
unsafe impl<H: Wake> Sync for ThinArc<H> {}

impl<H: Wake> ThinArc<H> {
    /// Moves `header` and `body` into a new shared allocation and returns the thin pointer to
    /// it. The task's waker (it keeps one reference and calls [`Wake`]) is handed to `install`
    /// with the still typed body, before anyone else can reach it.
    pub fn new<B: Erase<H>>(header: H, body: B, install: impl FnOnce(&B, Waker)) -> Self {
        let typed = Arc::new(Alloc {
            header,
            vtable: &VTableOf::<H, B>::VTABLE,
            body,
        });
        install(&typed.body, imp::waker(&typed));
        ThinArc::from_typed(typed)
    }

    /// Takes over the typed `Arc`'s reference: no count traffic.
    fn from_typed<B: Erase<H>>(typed: Arc<Alloc<H, B>>) -> Self {
        let raw = Arc::into_raw(typed).cast_mut().cast::<Prefix<H>>();
        ThinArc {
            ptr: NonNull::new(raw).expect("`Arc::into_raw` is never null"),
            _owns: PhantomData,
        }
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

    /// True when `addr` lies inside this allocation, from the header to the body's end.
    pub fn contains<T: ?Sized>(&self, addr: *const T) -> bool {
        let start = self.ptr.as_ptr() as usize;
        (addr.cast::<u8>() as usize).wrapping_sub(start) < self.vtable().size
    }

    /// True when `waker` is the waker [`ThinArc::new`] made for this allocation, or a clone of
    /// it, whatever `Context` carries it. Under loom the waker is an adapter's, whose data is the
    /// adapter, so the answer there is always false: callers keep a check of their own that
    /// works on every backend.
    pub fn is_waker_of(&self, waker: &Waker) -> bool {
        imp::is_waker_of(waker, self.ptr.as_ptr().cast_const().cast())
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
    // SAFETY: `this.ptr` was made by `Arc::into_raw` of an `Arc<Alloc<H, B>>` (see `from_typed`;
    // `B` is the table's type) and `this` owns a count, so the allocation is alive; the count
    // taken here is the new pointer's.
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

#[cfg(not(feature = "loom"))]
mod imp {
    use super::{Alloc, Erase, ThinArc, Wake};
    use std::sync::Arc;
    use std::task::Waker;

    impl<H: Wake, B: Erase<H>> std::task::Wake for Alloc<H, B> {
        fn wake(self: Arc<Self>) {
            H::wake(ThinArc::from_typed(self))
        }
        fn wake_by_ref(self: &Arc<Self>) {
            H::wake_by_ref(&self.header, || ThinArc::from_typed(self.clone()))
        }
    }

    /// The waker is the task's own `Arc`: one count, no allocation.
    pub(super) fn waker<H: Wake, B: Erase<H>>(typed: &Arc<Alloc<H, B>>) -> Waker {
        Waker::from(typed.clone())
    }

    pub(super) fn is_waker_of(waker: &Waker, start: *const ()) -> bool {
        // A waker made from an `Arc<W>` carries the `W`'s address as its data.
        std::ptr::eq(waker.data(), start)
    }
}

#[cfg(feature = "loom")]
mod imp {
    use super::{Alloc, Erase, ThinArc, Wake};
    use std::task::Waker;

    /// `std::task::Wake` wants a std `Arc`; this one holds a clone of the task's loom `Arc`.
    struct Adapter<H: Wake, B>(loom::sync::Arc<Alloc<H, B>>);

    impl<H: Wake, B: Erase<H>> std::task::Wake for Adapter<H, B> {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref()
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            H::wake_by_ref(&self.0.header, || ThinArc::from_typed(self.0.clone()))
        }
    }

    pub(super) fn waker<H: Wake, B: Erase<H>>(typed: &loom::sync::Arc<Alloc<H, B>>) -> Waker {
        Waker::from(std::sync::Arc::new(Adapter(typed.clone())))
    }

    pub(super) fn is_waker_of(_waker: &Waker, _start: *const ()) -> bool {
        false
    }
}
