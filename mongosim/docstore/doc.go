// Package docstore is the data plane of the mongosim emulator: one node's databases held in
// memory. It owns collections (documents in insertion order, found by _id), indexes (unique ones
// enforced with mongod's E11000 error, sparse ones skipping documents without the fields), the
// query matcher, sort/skip/limit/projection, the update operators with upsert and multi,
// findAndModify, delete, count, and the aggregation stages the emulated clients send.
//
// It does not know how the data got there. Every write returns the operations it performed (Op):
// mongosim appends them to the node's oplog, and a secondary, or a node that rolled back and
// rebuilds from a shorter oplog, reaches the same state by applying them in order (Apply). An
// update is recorded as the whole document after the update, so applying it needs no matcher.
// It knows nothing of replication, the wire protocol, write concern or server versions.
//
// Semantics follow MongoDB's documented behaviour for the operators it implements, with
// mongod's error codes; anything else is refused with a clear error rather than half-done:
//
//	Matcher        equality (arrays match by element or as a whole, null matches missing),
//	               $eq $ne $gt $gte $lt $lte $in $nin $exists $regex/$options (i m s; x refused)
//	               $not $all $size $elemMatch $type $mod $and $or $nor, dotted paths through
//	               documents, array indexes and arrays of documents; $comment ignored;
//	               $text $where $expr $jsonSchema $geo* refused (BadValue)
//	Comparison     BSON type order (MinKey, null, numbers, strings, objects, arrays, binary,
//	               ObjectId, bool, date, timestamp, regex, MaxKey); numbers compare across
//	               int/long/double; strings bytewise (no collation)
//	Find           filter, sort (arrays sort by their least / greatest element), skip, limit,
//	               projection by inclusion or exclusion with dotted paths ($slice, $elemMatch
//	               and expressions in projections refused)
//	Update         replacement or $set $unset $inc $mul $min $max $rename $setOnInsert
//	               $currentDate $push ($each $slice $position) $addToSet ($each) $pop $pull
//	               $pullAll; upsert (seeded from the filter's equalities), multi; _id is
//	               immutable (66), conflicting paths are refused (40); unknown modifiers such as
//	               the removed $pushAll fail (9) as on mongod 3.6+; positional $ and
//	               arrayFilters refused
//	Indexes        createIndexes (equivalent index: no-op; name or key conflicts 85/86; a unique
//	               index over duplicates fails with 11000), listIndexes; unique and sparse are
//	               enforced, parallel arrays in a compound index refused (171), text and TTL
//	               indexes are recorded but neither searched nor expired
//	Aggregation    $match $sort $skip $limit $project $count $group (_id and $sum $avg $min
//	               $max $first $last $push $addToSet over constants and "$paths") $unwind
package docstore
