// The tour's table of contents: every scenario, in order.  See scenarios.h.
#include "scenarios.h"

namespace revive::tour {
namespace {

constexpr Scenario kScenarios[] = {
    {"preserved", "U -> L -> Z -> L -> Z -> D: resurrection and flip back",
     "test_pyobj_preserved", preserved, {}, true},
    {"subclass-preserved", "a Python subclass and its __dict__ survive C++ holding the tensor",
     "test_subclass_preserved", subclass_preserved, {}, true},
    {"plain-death", "U -> L -> D: a wrapper that alone owns its tensor; its weakref clears",
     "test_tensor_weakref_dealloc", plain_death, {}, true},
    {"dict-dealloc", "real death releases __dict__", "test_tensor_dict_dealloc", dict_dealloc},
    {"slot-dealloc", "real death releases the __slots__ of every class level",
     "test_tensor_slot_dealloc", slot_dealloc},
    {"finalizer-dealloc", "__del__ runs at real death", "test_tensor_finalizer_dealloc",
     finalizer_dealloc, {}, true},
    {"weakref-hole", "T8: a weakref revives a zombie, C++ dies, the wrapper is stubbed",
     "test_tensor_dead_weak_ref", weakref_hole, {}, true},
    {"fix-weakref", "T8 then T5: _fix_weakref() flips the revived zombie back",
     "test_tensor_resurrected_weak_ref, test_tensor_fix_weakref_no_leak", fix_weakref, {}, true},
    {"storage", "storages: resurrection, flip back, release with their tensor",
     "test_storage_dealloc_subclass_zombie, test_storage_dealloc_subclass_resurrected", storage,
     "test_storage_dealloc, test_storage_dealloc_resurrected, test_storage_from_tensor_dealloc, "
     "test_storage_from_tensor_dealloc_zombie, test_storage_from_tensor_dealloc_resurrected "
     "(test/scenarios/pytorch_storage_test.cpp)",
     true},
    {"hermetic-storage", "T10: is_hermetic decides, not the mode a storage dies in",
     "test_storage_preserve_nonhermetic_in_hermetic_context", hermetic_storage},
    {"interpreters", "T10, T11: a second interpreter refused, a hermetic wrap, routed operators",
     "TensorSharingNotAllowed (torchdeploy)", interpreters},
    {"tagging-race", "T11: sixteen threads race to tag one tensor; exactly one wins",
     "TaggingRace (torchdeploy)", tagging_race},
    {"disarm", "T9: teardown disarms the interpreter; a new one is refused",
     "DisarmHook (torchdeploy)", disarm},
    {"gc-cycle", "T7: the cycle collector cannot see through a preserved wrapper",
     "test_tensor_cycle_via_dict, test_tensor_cycle_via_slots", gc_cycle, {}, true},
    {"gc-bugs", "#75932 and #136358 broken, then fixed; #145253's cleared weakref in all three",
     "test_tensor_ressurecting_clear, #75932, #136358, #145253", gc_bugs},
    {"autograd", "the graph saves x: a zombie kept by C++, then a cycle the collector sees through",
     "test_tensor_ressurecting_clear, test_backward_hooks_traverse", autograd, {}, true},
    {"grad-fn", "a grad_fn's Python object preserved like a tensor's, beside PyTorch's cache",
     "#179764 (the direction)", grad_fn_objects, {}, true},
};

}  // namespace

std::span<const Scenario> all_scenarios() { return kScenarios; }

}  // namespace revive::tour
