/* Intrusive doubly linked list. A list head is an fl_list whose next/prev
 * point to itself when empty; an item embeds an fl_list node. Not
 * thread-safe. */
#ifndef FL_BASE_LIST_H
#define FL_BASE_LIST_H

#include <stddef.h>

typedef struct fl_list {
    struct fl_list *next;
    struct fl_list *prev;
} fl_list;

#define fl_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void fl_list_init(fl_list *head)
{
    head->next = head;
    head->prev = head;
}

static inline int fl_list_empty(const fl_list *head)
{
    return head->next == head;
}

static inline void fl_list_insert_before(fl_list *at, fl_list *node)
{
    node->prev = at->prev;
    node->next = at;
    at->prev->next = node;
    at->prev = node;
}

static inline void fl_list_push_back(fl_list *head, fl_list *node)
{
    fl_list_insert_before(head, node);
}

static inline void fl_list_push_front(fl_list *head, fl_list *node)
{
    fl_list_insert_before(head->next, node);
}

/* Unlinks a node and leaves it self-linked, so removing twice is harmless. */
static inline void fl_list_remove(fl_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node;
    node->prev = node;
}

static inline fl_list *fl_list_pop_front(fl_list *head)
{
    if (fl_list_empty(head))
        return NULL;
    fl_list *n = head->next;
    fl_list_remove(n);
    return n;
}

static inline size_t fl_list_count(const fl_list *head)
{
    size_t n = 0;
    for (const fl_list *it = head->next; it != head; it = it->next)
        n++;
    return n;
}

#define fl_list_foreach(it, head) for (fl_list *it = (head)->next; it != (head); it = it->next)

#define fl_list_foreach_safe(it, tmp, head) \
    for (fl_list *it = (head)->next, *tmp = it->next; it != (head); it = tmp, tmp = it->next)

#endif
