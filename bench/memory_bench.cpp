// 7. Memory per object, counted (not timed).
//
//   design       the slot: sizeof(PyObjectSlot), two words embedded in every TensorImpl
//                and StorageImpl, wrapped or not; no allocation of its own.
//   alternative  one entry of std::unordered_map<const void*, PyObject*>, measured two
//                ways after inserting N entries:
//                  - requested: bytes asked of a counting allocator (nodes and bucket
//                    array), divided by N;
//                  - heap: growth of glibc's in-use bytes (mallinfo2: uordblks for
//                    arena chunks + hblkhd for mmapped blocks such as a large bucket
//                    array), which adds malloc's headers and rounding.
//   also         what one reference-counted object and one handle cost, intrusive_ptr
//                against std::shared_ptr (make_shared / allocate_shared, counted the
//                same way).
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <type_traits>
#include <unordered_map>

#include "revive/pyslot/py_object_slot.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/tensor_impl.h"
#include "suite.h"

namespace revive::bench {
namespace {

struct AllocationCount {
  std::size_t bytes = 0;
  std::size_t blocks = 0;
};

// One process-wide count, so the allocator is stateless (empty): std::allocate_shared
// then builds exactly the block std::make_shared builds, and a map's nodes are what
// they are with std::allocator.  Single-threaded use only.
AllocationCount counted;

template <class T>
struct CountingAllocator {
  using value_type = T;

  CountingAllocator() noexcept = default;
  template <class U>
  CountingAllocator(const CountingAllocator<U>&) noexcept {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    counted.bytes += n * sizeof(T);
    ++counted.blocks;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    counted.bytes -= n * sizeof(T);
    --counted.blocks;
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const CountingAllocator<U>&) const noexcept {
    return true;
  }
};

static_assert(std::is_empty_v<CountingAllocator<int>>);

long long heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<long long>(m.uordblks + m.hblkhd);
}

struct MapCost {
  double requested_per_entry = 0;
  double heap_per_entry = 0;
};

MapCost measure_map(std::size_t n) {
  using Entry = std::pair<const void* const, PyObject*>;
  using Map = std::unordered_map<const void*, PyObject*, std::hash<const void*>,
                                 std::equal_to<const void*>, CountingAllocator<Entry>>;
  const std::size_t bytes_before = counted.bytes;
  const long long heap_before = heap_in_use();
  MapCost cost;
  {
    Map registry;
    // Distinct keys 64 bytes apart, as addresses of distinct objects would be; the
    // values are never dereferenced.
    for (std::size_t i = 0; i < n; ++i) {
      const std::uintptr_t key = 0x100000 + 64 * i;
      registry.emplace(reinterpret_cast<const void*>(key), reinterpret_cast<PyObject*>(key));
    }
    cost.requested_per_entry =
        static_cast<double>(counted.bytes - bytes_before) / static_cast<double>(n);
    cost.heap_per_entry =
        static_cast<double>(heap_in_use() - heap_before) / static_cast<double>(n);
  }
  return cost;
}

std::string bytes_text(double b) {
  char buf[64];
  if (b == static_cast<double>(static_cast<long long>(b))) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f B", b);
  }
  return buf;
}


}  // namespace

void count_memory(Suite& suite) {
  const std::string section = "7. memory per object (counted, not timed)";
  const auto slot_bytes = static_cast<double>(sizeof(impl::PyObjectSlot));

  for (std::size_t n : {std::size_t{1'000}, std::size_t{10'000}, std::size_t{100'000},
                        std::size_t{1'000'000}}) {
    if (n > suite.options().max_live) break;
    const MapCost cost = measure_map(n);
    Row requested;
    requested.section = section;
    requested.measure = "slot vs map entry, requested bytes, " + power_of_ten(n) + " entries";
    requested.design_text = bytes_text(slot_bytes);
    requested.alternative_text = bytes_text(cost.requested_per_entry);
    requested.ratio = cost.requested_per_entry / slot_bytes;
    suite.count(requested);

    Row heap;
    heap.section = section;
    heap.measure = "slot vs map entry, heap bytes (mallinfo2), " + power_of_ten(n) + " entries";
    heap.design_text = bytes_text(slot_bytes);
    heap.alternative_text = bytes_text(cost.heap_per_entry);
    heap.ratio = cost.heap_per_entry / slot_bytes;
    suite.count(heap);
  }

  Row context;
  context.section = section;
  context.measure = "context: sizeof(TensorImpl), slot included";
  context.design_text = bytes_text(static_cast<double>(sizeof(TensorImpl)));
  suite.count(context);

  // One refcounted object with an 8-byte payload: where the counts live.
  {
    const std::size_t before = counted.bytes;
    auto p = std::allocate_shared<SharedThing>(CountingAllocator<SharedThing>());
    const std::size_t block = counted.bytes - before;
    Row object;
    object.section = section;
    object.measure = "refcounted object, 8 B payload: intrusive vs make_shared block";
    object.design_text = bytes_text(static_cast<double>(sizeof(IntrusiveThing)));
    object.alternative_text = bytes_text(static_cast<double>(block));
    object.ratio = static_cast<double>(block) /
                   static_cast<double>(sizeof(IntrusiveThing));
    suite.count(object);
  }
  Row handle;
  handle.section = section;
  handle.measure = "one handle: intrusive_ptr vs shared_ptr";
  handle.design_text = bytes_text(static_cast<double>(sizeof(intrusive_ptr<IntrusiveThing>)));
  handle.alternative_text = bytes_text(static_cast<double>(sizeof(std::shared_ptr<SharedThing>)));
  handle.ratio = static_cast<double>(sizeof(std::shared_ptr<SharedThing>)) /
                 static_cast<double>(sizeof(intrusive_ptr<IntrusiveThing>));
  suite.count(handle);
}

}  // namespace revive::bench
