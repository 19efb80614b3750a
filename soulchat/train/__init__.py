"""soulchat.train"""
