-- 0002: the hot writes as functions, each one statement that never fails
-- in SQL: a domain refusal (not a member, no such chat...) or an error
-- comes back as a row, so the writer can send a whole batch of them
-- without waiting for each answer (one round trip per batch, not several
-- per message) and no failure aborts the batch's transaction. The
-- EXCEPTION block gives each call its own subtransaction: a failed call
-- leaves nothing behind.

CREATE FUNCTION chat_send(
    p_sender bigint, p_to bigint, p_chat bigint, p_group bigint,
    p_text text, p_client_id text,
    p_filename text, p_content_type text, p_size bigint, p_sha256 text,
    p_now bigint)
RETURNS TABLE (
    o_outcome text, o_detail bigint, o_message bigint, o_chat bigint, o_kind text,
    o_attachment bigint, o_new_chat boolean)
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
BEGIN
    -- A repeated client_id: the message stored the first time.
    IF p_client_id IS NOT NULL THEN
        SELECT m.id INTO v_message FROM messages m
        WHERE m.sender_id = p_sender AND m.client_id = p_client_id;
        IF FOUND THEN
            RETURN QUERY SELECT 'earlier', NULL::bigint, v_message, NULL::bigint, NULL::text, NULL::bigint, false;
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
                RETURN QUERY SELECT 'user_not_found', p_to, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false;
                RETURN;
            END IF;
            INSERT INTO chats (kind, created_by, created_at, direct_lo, direct_hi, last_activity_at)
            VALUES ('direct', p_sender, p_now, v_lo, v_hi, p_now) RETURNING id INTO v_chat;
            INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (v_chat, p_sender, 'member', p_now);
            IF p_to <> p_sender THEN
                INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (v_chat, p_to, 'member', p_now);
            END IF;
            v_new := true;
        END IF;
    ELSE
        v_chat := coalesce(p_chat, p_group);
        SELECT c.kind INTO v_kind FROM chats c WHERE c.id = v_chat;
        IF NOT FOUND OR (p_group IS NOT NULL AND v_kind <> 'group') THEN
            RETURN QUERY SELECT CASE WHEN p_group IS NULL THEN 'chat_not_found' ELSE 'group_not_found' END,
                v_chat, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false;
            RETURN;
        END IF;
        PERFORM 1 FROM chat_members cm WHERE cm.chat_id = v_chat AND cm.user_id = p_sender;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_a_member', v_chat, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, false;
            RETURN;
        END IF;
    END IF;
    IF p_sha256 IS NOT NULL THEN
        INSERT INTO attachments (chat_id, uploader_id, filename, content_type, size, sha256, created_at)
        VALUES (v_chat, p_sender, p_filename, p_content_type, p_size, p_sha256, p_now)
        RETURNING id INTO v_attachment;
    END IF;
    UPDATE chats c SET last_seq = c.last_seq + 1, last_activity_at = p_now
    WHERE c.id = v_chat RETURNING c.last_seq INTO v_seq;
    INSERT INTO messages (chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq)
    VALUES (v_chat, p_sender, CASE WHEN v_attachment IS NULL THEN 'text' ELSE 'file' END,
            p_text, v_attachment, p_client_id, p_now, v_seq)
    RETURNING id INTO v_message;
    UPDATE chats c SET last_message_id = v_message WHERE c.id = v_chat;
    UPDATE chat_members cm SET sent_since_read = cm.sent_since_read + 1
    WHERE cm.chat_id = v_chat AND cm.user_id = p_sender;
    RETURN QUERY SELECT 'sent', NULL::bigint, v_message, v_chat, v_kind, v_attachment, v_new;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT 'error: ' || SQLSTATE || ' ' || SQLERRM, NULL::bigint, NULL::bigint, NULL::bigint,
        NULL::text, NULL::bigint, false;
END
$$;

CREATE FUNCTION chat_mark_read(p_user bigint, p_chat bigint, p_message bigint)
RETURNS TABLE (o_outcome text, o_detail bigint, o_marker bigint, o_moved boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_marker bigint;
    v_moved integer;
BEGIN
    PERFORM 1 FROM chats c WHERE c.id = p_chat;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'chat_not_found', p_chat, NULL::bigint, false;
        RETURN;
    END IF;
    SELECT cm.last_read_message_id INTO v_marker FROM chat_members cm
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_a_member', p_chat, NULL::bigint, false;
        RETURN;
    END IF;
    PERFORM 1 FROM messages m WHERE m.id = p_message AND m.chat_id = p_chat;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'message_not_in_chat', p_message, NULL::bigint, false;
        RETURN;
    END IF;
    UPDATE chat_members cm
    SET last_read_message_id = p_message,
        last_read_seq = (SELECT m.seq FROM messages m WHERE m.id = p_message),
        sent_since_read = (SELECT COUNT(*) FROM messages m
                           WHERE m.chat_id = p_chat AND m.id > p_message AND m.sender_id = p_user)
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user AND cm.last_read_message_id < p_message;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN QUERY SELECT 'marked', NULL::bigint, greatest(v_marker, p_message), v_moved > 0;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT 'error: ' || SQLSTATE || ' ' || SQLERRM, NULL::bigint, NULL::bigint, false;
END
$$;
