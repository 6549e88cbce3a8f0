// Teaches ThreadSanitizer the contended path of Swift's `Synchronization.Mutex` on Linux.
// Preloaded (LD_PRELOAD) by scripts/sanitize.sh for ThreadSanitizer runs only; never part of
// the product.
//
// Why: Mutex's fast paths are inlined into our (instrumented) code as atomic compare-exchanges
// with acquire/release ordering on the mutex word, which TSan sees. When the lock is contended
// the stdlib's out-of-line `_lockSlow` / `_tryLockSlow` / `_unlockSlow` in
// libswiftSynchronization.so take over: FUTEX_LOCK_PI / FUTEX_UNLOCK_PI system calls, in
// which the kernel hands the lock to the waiter. That library is not instrumented, so TSan
// sees no release by the owner and no acquire by the next one, and reports every pair of
// accesses made under the lock by two threads that met there as a data race (false positives,
// seen as "data race ... in closure #1 in ...withLock" in the first TSan run of the suite).
//
// What: this library interposes those three symbols, calls the real ones, and tells TSan what
// they did: release on the mutex word before unlocking, acquire on it after locking. That is
// exactly the happens-before edge the lock provides; nothing else is hidden.
//
// Swift passes `self` (the address of the `_MutexHandle`, whose first field is the 32-bit
// futex word) in the swiftself register, r13 on x86_64, which C cannot name: the three
// interposers are small assembly thunks that keep r13 and the arguments for the real call and
// call C helpers (which preserve r13: callee-saved) around it. x86_64 only (this machine, CI).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#if !defined(__x86_64__)
#error "tsan-swift-mutex.c: x86_64 only"
#endif

// From the TSan runtime linked into the instrumented executable; weak so that the
// uninstrumented processes the tests start (python, PostgreSQL, nginx) still load this.
extern void __tsan_acquire(void *addr) __attribute__((weak));
extern void __tsan_release(void *addr) __attribute__((weak));

static const char *const names[3] = {
    "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF",
    "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF",
    "$s15Synchronization12_MutexHandleV11_unlockSlowyyF",
};
static void *cached[3];

/// The real function `which` (0 lock, 1 tryLock, 2 unlock) in libswiftSynchronization.so.
__attribute__((used)) static void *ds_tsan_real(int which) {
    void *f = __atomic_load_n(&cached[which], __ATOMIC_ACQUIRE);
    if (f) return f;
    void *lib = dlopen("libswiftSynchronization.so", RTLD_NOW | RTLD_NOLOAD);
    f = lib ? dlsym(lib, names[which]) : NULL;
    if (!f) {
        fprintf(stderr, "tsan-swift-mutex: %s not found in libswiftSynchronization.so\n", names[which]);
        abort();
    }
    __atomic_store_n(&cached[which], f, __ATOMIC_RELEASE);
    return f;
}
__attribute__((used)) static void ds_tsan_acquire(void *handle) { if (__tsan_acquire) __tsan_acquire(handle); }
__attribute__((used)) static void ds_tsan_release(void *handle) { if (__tsan_release) __tsan_release(handle); }

__asm__(
    // _lockSlow(selfId: edi) with self in r13: lock, then acquire.
    "    .text\n"
    "    .globl \"$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF\"\n"
    "    .type \"$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF\", @function\n"
    "\"$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"                 // -8(%rbp): the handle
    "    push %rdi\n"                 // -16(%rbp): selfId
    "    mov $0, %edi\n"
    "    call ds_tsan_real\n"
    "    mov -16(%rbp), %rdi\n"
    "    call *%rax\n"                // r13 is still the handle
    "    mov -8(%rbp), %rdi\n"
    "    call ds_tsan_acquire\n"
    "    add $8, %rsp\n"
    "    pop %r13\n"
    "    pop %rbp\n"
    "    ret\n"
    // _tryLockSlow() -> Bool with self in r13: try, then acquire if it got the lock.
    "    .globl \"$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF\"\n"
    "    .type \"$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF\", @function\n"
    "\"$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"
    "    sub $8, %rsp\n"              // -16(%rbp): the result
    "    mov $1, %edi\n"
    "    call ds_tsan_real\n"
    "    call *%rax\n"
    "    movzbl %al, %eax\n"
    "    mov %eax, -16(%rbp)\n"
    "    test %eax, %eax\n"
    "    jz 1f\n"
    "    mov -8(%rbp), %rdi\n"
    "    call ds_tsan_acquire\n"
    "1:  mov -16(%rbp), %eax\n"
    "    add $8, %rsp\n"
    "    pop %r13\n"
    "    pop %rbp\n"
    "    ret\n"
    // _unlockSlow() with self in r13: release, then unlock.
    "    .globl \"$s15Synchronization12_MutexHandleV11_unlockSlowyyF\"\n"
    "    .type \"$s15Synchronization12_MutexHandleV11_unlockSlowyyF\", @function\n"
    "\"$s15Synchronization12_MutexHandleV11_unlockSlowyyF\":\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    push %r13\n"
    "    sub $8, %rsp\n"
    "    mov %r13, %rdi\n"
    "    call ds_tsan_release\n"
    "    mov $2, %edi\n"
    "    call ds_tsan_real\n"
    "    call *%rax\n"
    "    add $8, %rsp\n"
    "    pop %r13\n"
    "    pop %rbp\n"
    "    ret\n"
);
