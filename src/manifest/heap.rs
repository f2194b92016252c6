//! The heap a render works in: grown once in huge pages, and given back.
//!
//! A render builds a document's tree, writes it out and drops it, then builds
//! the next. Much of the memory it touches is fresh, and each fresh 4 KiB page
//! costs a fault and the kernel clearing and charging it: on the Argo CD
//! install, a third of a render's time was the kernel's (7.7 of 23 ms). In
//! transparent huge pages the kernel hands out 2 MiB at a time: the Argo CD
//! install takes 1,208 faults instead of 3,003.
//!
//! Linux's default mode (`madvise`) gives huge pages to memory marked
//! `MADV_HUGEPAGE`, and only for a whole aligned 2 MiB range that nothing has
//! touched yet. glibc grows its heap a little at a time and writes a header at
//! each new end, so marking the heap as it grows comes too late. So
//! [`use_huge_pages`] grows the heap once by [`RESERVE`] bytes, marks them
//! while they are untouched and frees them again: with the trim threshold above
//! that, they stay the heap's free top, used as the heap grows. glibc's
//! `glibc.malloc.hugetlb=1` tunable does much the same, but only from the
//! environment the process starts with.
//!
//! Only the main thread's heap: glibc gives each worker thread a heap of its
//! own, which stays in 4 KiB pages. Blocks of 1 MiB and more keep mappings of
//! their own (see `text`): they go back to the system as soon as they are
//! freed, which glibc's moving threshold did not promise. Only one-shot
//! commands ask for this: a long-running controller keeps glibc's defaults,
//! which hand memory back by themselves. Nor does a process whose address
//! space is capped.

/// Bytes the main heap is grown by at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESERVE: usize = 30 << 20;

/// Allocations from this size up get a mapping of their own: a text block
/// and larger.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = super::text::BLOCK_BYTES as i32;

/// Free memory at the heap's top past this goes back to the system on a
/// free; above [`RESERVE`], so freeing the reservation keeps it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 64 << 20;

/// Makes the calling thread's heap use transparent huge pages where the
/// kernel gives them. For the binary's one-shot commands, on the main thread,
/// before they allocate much. Not under a capped address space or data
/// segment: the reservation holds address space a render may need elsewhere
/// (a worker's heap maps 64 MiB), and glibc's defaults fit more in the same
/// space (the Argo CD install on two threads: 85 MB, against 110 with it).
pub fn use_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if capped(libc::RLIMIT_AS) || capped(libc::RLIMIT_DATA) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's thresholds, which it checks
    // against its limits (these are within them). The reserved block is the
    // allocator's until it is freed; madvise only marks its pages (from the
    // page its header is on), which nothing has written but that header, and
    // fails harmlessly where the kernel has no huge pages.
    unsafe {
        // The reservation must come from the heap: under the threshold while it is taken.
        if libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1
            || libc::mallopt(libc::M_MMAP_THRESHOLD, RESERVE as i32 + MMAP_THRESHOLD) != 1
        {
            return;
        }
        let block = libc::malloc(RESERVE);
        if !block.is_null() {
            // madvise starts at a page boundary: 4 KiB here, 16 or 64 KiB on some arm64 kernels.
            let page_size = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
            let page = block as usize & !(page_size - 1);
            libc::madvise(page as *mut libc::c_void, block as usize + RESERVE - page, libc::MADV_HUGEPAGE);
            libc::free(block);
        }
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Whether the process has a limit on `resource` (or cannot tell).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn capped(resource: libc::__rlimit_resource_t) -> bool {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the limit into the local it is given.
    unsafe { libc::getrlimit(resource, &mut limit) != 0 || limit.rlim_cur != libc::RLIM_INFINITY }
}

/// Returns freed heap memory to the system. What a render frees while it
/// holds its objects (source files, trees, documents that are not in a
/// block) leaves gaps between what stays, which the allocator keeps for
/// later use unless asked.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
