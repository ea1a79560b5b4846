-- 0006 (v2): catch-up without gaps. Every chat event is logged here in
-- the transaction of the change that makes it, with its payload as it was
-- at commit time. `seq` comes from event_seq, taken under the writer's
-- ordering lock (pg_advisory_xact_lock, held until commit), so it grows in
-- commit order across every node: the same serialization point that
-- orders message ids. (A batch that rolls back leaves a gap: harmless.)

-- the seq of the message's latest change (0: older than the log)
ALTER TABLE messages ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
-- the first seq a member hears of the chat (0: a member from before the log)
ALTER TABLE chat_members ADD COLUMN joined_seq bigint NOT NULL DEFAULT 0;

CREATE SEQUENCE event_seq;

CREATE TABLE events (
    seq         bigint PRIMARY KEY,
    -- the chat whose members at `seq` receive it; NULL: event_recipients
    -- name who does (added_to_group, user_updated)
    chat_id     bigint,
    kind        text   NOT NULL,
    data        text   NOT NULL,
    created_at  bigint NOT NULL
);
CREATE INDEX events_by_chat ON events (chat_id, seq) WHERE chat_id IS NOT NULL;

CREATE TABLE event_recipients (
    user_id  bigint NOT NULL,
    seq      bigint NOT NULL,
    PRIMARY KEY (user_id, seq)
);

-- memberships that ended: the member heard the chat's events from
-- joined_seq through left_seq (their member_removed)
CREATE TABLE member_spans (
    user_id     bigint NOT NULL,
    chat_id     bigint NOT NULL,
    joined_seq  bigint NOT NULL,
    left_seq    bigint NOT NULL,
    PRIMARY KEY (user_id, chat_id, left_seq)
);

-- events up to this seq were pruned (a `since` below it is too old)
CREATE TABLE event_log (
    id              integer PRIMARY KEY CHECK (id = 1),
    pruned_through  bigint  NOT NULL
);
INSERT INTO event_log (id, pruned_through) VALUES (1, 0);

-- chat_send gives the message its event's seq and answers it with the
-- chat's members (the event's recipients); the writer logs the event in
-- the same transaction, once it has the message.
DROP FUNCTION chat_send(bigint, bigint, bigint, bigint, text, text, text, text, bigint, text, bigint, bigint, text);

CREATE FUNCTION chat_send(
    p_sender bigint, p_to bigint, p_chat bigint, p_group bigint,
    p_text text, p_client_id text,
    p_filename text, p_content_type text, p_size bigint, p_sha256 text,
    p_now bigint, p_reply_to bigint, p_search text)
RETURNS TABLE (
    o_outcome text, o_detail bigint, o_message bigint, o_chat bigint, o_kind text,
    o_attachment bigint, o_new_chat boolean,
    o_reply_sender bigint, o_reply_kind text, o_reply_text text, o_reply_deleted boolean,
    o_event bigint, o_members bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    v_chat bigint;
    v_kind text;
    v_lo bigint;
    v_hi bigint;
    v_attachment bigint;
    v_message bigint;
    v_seq bigint;
    v_new boolean := false;
    v_refusal text;
    v_event bigint;
BEGIN
    -- A repeated client_id: the message stored the first time.
    IF p_client_id IS NOT NULL THEN
        SELECT m.id INTO v_message FROM messages m
        WHERE m.sender_id = p_sender AND m.client_id = p_client_id;
        IF FOUND THEN
            RETURN QUERY SELECT 'earlier', NULL::bigint, v_message, NULL::bigint, NULL::text, NULL::bigint, false,
                NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
            RETURN;
        END IF;
    END IF;
    IF p_to IS NOT NULL THEN
        v_lo := least(p_sender, p_to);
        v_hi := greatest(p_sender, p_to);
        v_kind := 'direct';
        SELECT c.id INTO v_chat FROM chats c
        WHERE c.kind = 'direct' AND c.direct_lo = v_lo AND c.direct_hi = v_hi;
        IF NOT FOUND THEN
            PERFORM 1 FROM users u WHERE u.id = p_to;
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'user_not_found', p_to, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint,
                    false, NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
                RETURN;
            END IF;
        END IF;
    ELSE
        v_chat := coalesce(p_chat, p_group);
        SELECT c.kind INTO v_kind FROM chats c WHERE c.id = v_chat;
        IF NOT FOUND OR (p_group IS NOT NULL AND v_kind <> 'group') THEN
            RETURN QUERY SELECT CASE WHEN p_group IS NULL THEN 'chat_not_found' ELSE 'group_not_found' END,
                v_chat, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false,
                NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
            RETURN;
        END IF;
        PERFORM 1 FROM chat_members cm WHERE cm.chat_id = v_chat AND cm.user_id = p_sender;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_a_member', v_chat, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false,
                NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
            RETURN;
        END IF;
    END IF;
    -- Checked before a direct chat is created, so a refusal leaves none.
    IF p_reply_to IS NOT NULL THEN
        v_refusal := chat_reply_refusal(p_sender, p_reply_to, v_chat);
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT v_refusal, p_reply_to, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false,
                NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
            RETURN;
        END IF;
    END IF;
    -- The event's seq, taken under the writer's ordering lock: commit order.
    v_event := nextval('event_seq');
    IF v_chat IS NULL THEN
        INSERT INTO chats (kind, created_by, created_at, direct_lo, direct_hi, last_activity_at)
        VALUES ('direct', p_sender, p_now, v_lo, v_hi, p_now) RETURNING id INTO v_chat;
        INSERT INTO chat_members (chat_id, user_id, role, joined_at, joined_seq)
        VALUES (v_chat, p_sender, 'member', p_now, v_event);
        IF p_to <> p_sender THEN
            INSERT INTO chat_members (chat_id, user_id, role, joined_at, joined_seq)
            VALUES (v_chat, p_to, 'member', p_now, v_event);
        END IF;
        v_new := true;
    END IF;
    IF p_sha256 IS NOT NULL THEN
        INSERT INTO attachments (chat_id, uploader_id, filename, content_type, size, sha256, created_at)
        VALUES (v_chat, p_sender, p_filename, p_content_type, p_size, p_sha256, p_now)
        RETURNING id INTO v_attachment;
    END IF;
    UPDATE chats c SET last_seq = c.last_seq + 1, last_activity_at = p_now
    WHERE c.id = v_chat RETURNING c.last_seq INTO v_seq;
    INSERT INTO messages (chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq,
                          reply_to_id, search, change_seq)
    VALUES (v_chat, p_sender, CASE WHEN v_attachment IS NULL THEN 'text' ELSE 'file' END,
            p_text, v_attachment, p_client_id, p_now, v_seq, p_reply_to, p_search::tsvector, v_event)
    RETURNING id INTO v_message;
    UPDATE chats c SET last_message_id = v_message WHERE c.id = v_chat;
    UPDATE chat_members cm SET sent_since_read = cm.sent_since_read + 1
    WHERE cm.chat_id = v_chat AND cm.user_id = p_sender;
    RETURN QUERY SELECT 'sent', NULL::bigint, v_message, v_chat, v_kind, v_attachment, v_new,
        r.sender_id, r.kind, left(r.text, 200), r.deleted_at IS NOT NULL, v_event,
        (SELECT array_agg(cm.user_id ORDER BY cm.user_id) FROM chat_members cm WHERE cm.chat_id = v_chat)
        FROM (SELECT 1) one LEFT JOIN messages r ON r.id = p_reply_to;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT 'error: ' || SQLSTATE || ' ' || SQLERRM, NULL::bigint, NULL::bigint, NULL::bigint,
        NULL::text, NULL::bigint, false, NULL::bigint, NULL::text, NULL::text, NULL::boolean, NULL::bigint, NULL::bigint[];
END
$$;

-- chat_mark_read likewise, for `read` (a seq only when the marker moved).
DROP FUNCTION chat_mark_read(bigint, bigint, bigint);

CREATE FUNCTION chat_mark_read(p_user bigint, p_chat bigint, p_message bigint)
RETURNS TABLE (o_outcome text, o_detail bigint, o_marker bigint, o_moved boolean,
               o_event bigint, o_members bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    v_marker bigint;
    v_moved integer;
    v_event bigint;
BEGIN
    PERFORM 1 FROM chats c WHERE c.id = p_chat;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'chat_not_found', p_chat, NULL::bigint, false, NULL::bigint, NULL::bigint[];
        RETURN;
    END IF;
    SELECT cm.last_read_message_id INTO v_marker FROM chat_members cm
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_a_member', p_chat, NULL::bigint, false, NULL::bigint, NULL::bigint[];
        RETURN;
    END IF;
    PERFORM 1 FROM messages m WHERE m.id = p_message AND m.chat_id = p_chat;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'message_not_in_chat', p_message, NULL::bigint, false, NULL::bigint, NULL::bigint[];
        RETURN;
    END IF;
    UPDATE chat_members cm
    SET last_read_message_id = p_message,
        last_read_seq = (SELECT m.seq FROM messages m WHERE m.id = p_message),
        sent_since_read = (SELECT COUNT(*) FROM messages m
                           WHERE m.chat_id = p_chat AND m.id > p_message AND m.sender_id = p_user)
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user AND cm.last_read_message_id < p_message;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    IF v_moved > 0 THEN
        v_event := nextval('event_seq');
    END IF;
    RETURN QUERY SELECT 'marked', NULL::bigint, greatest(v_marker, p_message), v_moved > 0, v_event,
        CASE WHEN v_moved > 0 THEN
            (SELECT array_agg(cm.user_id ORDER BY cm.user_id) FROM chat_members cm WHERE cm.chat_id = p_chat)
        END;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT 'error: ' || SQLSTATE || ' ' || SQLERRM, NULL::bigint, NULL::bigint, false,
        NULL::bigint, NULL::bigint[];
END
$$;
